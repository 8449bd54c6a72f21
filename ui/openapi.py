"""The API's OpenAPI 3.1 document, made from each view's request and response models and the app's routes.

A view declares its models with `operation`; the same declaration validates what the view is given,
so the document cannot drift from what the API enforces.
"""

from __future__ import annotations

import functools
import http
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .access import Need, needs
from .inputs import BadInput, json_object
from .schemas import ApiDocument, Body, Error, Query

openapi = Blueprint("openapi", __name__, url_prefix="/api/v1")

VERSION = "1"
SPEC_ATTRIBUTE = "openapi_operation"
REF = "#/components/schemas/{model}"
# Werkzeug's `<converter:name>` and `<name>` placeholders, written as OpenAPI's `{name}`.
PLACEHOLDER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
# Answers any keyed operation may give, whatever it does.
KEYED_REPLIES: dict[int, str] = {
    401: "No API key, or one that is not known.",
    403: "The key may not do this (admin only), or a signed-in browser sent no CSRF token.",
    429: "Too many requests from this address.",
}

View = TypeVar("View", bound=Callable[..., Any])
# A response is JSON of a model, or a media type sent as text (a stream).
Content = type[BaseModel] | str


@dataclass(frozen=True)
class Operation:
    """What one view takes and answers, as the document describes it and the wrapper enforces it."""

    summary: str
    responses: Mapping[int, Content]
    query: type[Query] | None = None
    body: type[Body] | None = None
    # The body may be an image itself (raw bytes or a form's file) instead of JSON.
    image_body: bool = False
    keyed: bool = True


def validated(model: type[BaseModel], data: Mapping[str, Any]) -> Any:
    """``data`` as ``model``, or a BadInput that names each wrong member and what it should be."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadInput("; ".join(problem(error) for error in exc.errors())) from None


def problem(error: ErrorDetails) -> str:
    """One wrong member, said as the existing API always said it (``limit must be a whole number``)."""
    where = ".".join(str(part) for part in error["loc"]) or "the body"
    if error["type"] in ("int_parsing", "int_from_float", "int_type"):
        return f"{where} must be a whole number"
    return f"{where}: {error['msg'][0].lower()}{error['msg'][1:]}"


def operation(summary: str, responses: Mapping[int, Content], *, query: type[Query] | None = None,
              body: type[Body] | None = None, image_body: bool = False, keyed: bool = True) -> Callable[[View], View]:
    """Describes a view and hands it ``query=`` and ``body=`` validated as the models say."""
    spec = Operation(summary, responses, query, body, image_body, keyed)

    def describe(view: View) -> View:
        @functools.wraps(view)
        def checked(**path: Any) -> Any:
            given = dict(path)
            if spec.query is not None:
                given["query"] = validated(spec.query, request.args.to_dict())
            if spec.body is not None and (request.is_json or not spec.image_body):
                given["body"] = validated(spec.body, json_object())
            return view(**given)

        setattr(checked, SPEC_ATTRIBUTE, spec)
        return checked  # type: ignore[return-value]

    return describe


class Components:
    """The models a document refers to, each described once under its own name."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(self, model: type[BaseModel]) -> dict[str, str]:
        if model.__name__ not in self.schemas:
            found = model.model_json_schema(ref_template=REF)
            self.schemas.update(found.pop("$defs", {}))
            self.schemas[model.__name__] = found
        return {"$ref": REF.format(model=model.__name__)}

    def inline(self, model: type[BaseModel]) -> dict[str, Any]:
        self.ref(model)
        return dict(self.schemas[model.__name__])


def parameters(spec: Operation, path_names: list[str], components: Components) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in path_names
    ]
    if spec.query is not None:
        schema = components.inline(spec.query)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            described = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if "description" in prop:
                described["description"] = prop["description"]
            found.append(described)
    return found


def request_body(spec: Operation, components: Components) -> dict[str, Any] | None:
    content: dict[str, Any] = {}
    if spec.body is not None:
        content["application/json"] = {"schema": components.ref(spec.body)}
    if spec.image_body:
        picture = {"type": "string", "format": "binary"}
        content["application/octet-stream"] = {"schema": picture}
        content["multipart/form-data"] = {
            "schema": {"type": "object", "properties": {"file": picture}, "required": ["file"]}}
    if not content:
        return None
    required = spec.image_body or bool(spec.body and spec.body.model_json_schema().get("required"))
    return {"required": required, "content": content}


def responses(spec: Operation, components: Components) -> dict[str, Any]:
    declared: dict[int, Content] = dict(spec.responses)
    if spec.keyed:
        declared = {**dict.fromkeys(KEYED_REPLIES, Error), **declared}
    if spec.query is not None or spec.body is not None or spec.image_body:
        declared.setdefault(400, Error)
    described: dict[str, Any] = {}
    for status, content in sorted(declared.items()):
        if isinstance(content, str):
            body = {content: {"schema": {"type": "string"}}}
        else:
            body = {"application/json": {"schema": components.ref(content)}}
        text = KEYED_REPLIES.get(status) or http.HTTPStatus(status).phrase
        described[str(status)] = {"description": text, "content": body}
    return described


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of every described route of ``app``."""
    components = Components()
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        spec: Operation | None = getattr(app.view_functions[rule.endpoint], SPEC_ATTRIBUTE, None)
        if spec is None:
            continue
        path = PLACEHOLDER.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            described: dict[str, Any] = {
                "operationId": rule.endpoint.replace(".", "_"),
                "summary": spec.summary,
                "tags": [rule.endpoint.split(".")[0]],
                "parameters": parameters(spec, list(PLACEHOLDER.findall(rule.rule)), components),
                "responses": responses(spec, components),
            }
            body = request_body(spec, components)
            if body is not None:
                described["requestBody"] = body
            if not spec.keyed:
                described["security"] = []
            paths.setdefault(path, {})[method.lower()] = described
    return {
        "openapi": "3.1.0",
        "info": {"title": "medialens", "version": VERSION,
                 "description": "Uploads, their analysis, search and people. Send 'Authorization: Bearer <key>'."},
        "paths": paths,
        "components": {
            "schemas": components.schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
    }


@openapi.get("/openapi.json")
@needs(Need.PUBLIC)
@operation("This document.", {200: ApiDocument}, keyed=False)
def openapi_document() -> tuple[Response, int]:
    return jsonify(document(current_app)), 200
