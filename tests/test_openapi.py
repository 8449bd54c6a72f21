"""The API keeps the contract its OpenAPI document states: a schemathesis run over every operation finds
no server error, no undocumented status and no response that breaks its schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from embedded.stack import Stack
from tests.conftest import make_account
from tests.ui_support import UNTHROTTLED, app_on

# The run's own Redis database: the state-changing operations it calls (delete, retry, reprocess, merge)
# can reach no upload or person of the running stack's, nor of any other test's.
CONTRACT_DB = 14
DOCUMENT = "/api/v1/openapi.json"
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def contract_app(running_stack: Stack) -> Iterator[Flask]:
    own = running_stack.redis(CONTRACT_DB)
    own.flushdb()
    with app_on(running_stack, redis_db=CONTRACT_DB, **UNTHROTTLED) as app:
        yield app
    own.flushdb()


@pytest.fixture(scope="module")
def contract_key(running_stack: Stack, contract_app: Flask) -> str:
    return make_account(running_stack.redis(CONTRACT_DB), operator=True).key


@pytest.fixture(scope="module")
def api_schema(contract_app: Flask) -> schemathesis.BaseSchema:
    # The event stream never ends by itself: it is described, but not called here.
    return schemathesis.openapi.from_wsgi(DOCUMENT, contract_app).exclude(path="/events")


def test_the_document_is_served_without_a_key_and_names_every_api_route(contract_app: Flask) -> None:
    reply = contract_app.test_client().get(DOCUMENT)
    assert reply.status_code == 200
    document = reply.get_json()
    assert document["openapi"].startswith("3.1")
    routes = {
        rule.rule for rule in contract_app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1") or rule.endpoint.startswith("events.")
    }
    described = {path.replace("{", "<").replace("}", ">") for path in document["paths"]}
    assert routes == described
    listing = document["paths"]["/api/v1/uploads"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"limit", "offset", "state"}
    assert "text/event-stream" in document["paths"]["/events"]["get"]["responses"]["200"]["content"]


def test_an_input_the_document_refuses_is_a_400_that_names_it(contract_app: Flask, contract_key: str) -> None:
    client = contract_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {contract_key}"
    reply = client.get("/api/v1/uploads?limit=501&state=lost")
    assert reply.status_code == 400
    message = reply.get_json()["error"]
    assert "limit" in message and "500" in message and "state" in message
    reply = client.post("/api/v1/people/merge", json={"people": "p1"})
    assert reply.status_code == 400
    assert "people" in reply.get_json()["error"]


# Few examples per operation, always the same ones: the run stays within a couple of minutes on two cores.
EXAMPLES = settings(max_examples=25, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def broken_contract(operation: APIOperation, mode: GenerationMode, key: str) -> str | None:
    """What the run of one operation found wrong, or None."""

    @given(case=operation.as_strategy(mode))
    @EXAMPLES
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)

    try:
        run()
    except Exception as exc:  # every kind of failure is reported, with the operation it came from
        found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else [exc]
        return f"{operation.label}: " + "\n".join(str(each)[:1500] for each in found)
    return None


# Input that fits the document must be served; input that does not must be refused, with a 4xx.
@pytest.mark.parametrize("mode", list(GenerationMode))
def test_every_operation_keeps_its_contract(
    api_schema: schemathesis.BaseSchema, contract_key: str, mode: GenerationMode
) -> None:
    operations = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), f"the document describes an operation schemathesis cannot read: {result.err()}"
        operations.append(result.ok())
    assert len(operations) >= 16
    found = [problem for operation in operations if (problem := broken_contract(operation, mode, contract_key))]
    assert not found, "\n\n".join(found)
