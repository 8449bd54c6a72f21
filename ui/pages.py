"""The web pages: sign-in, upload, the uploads list, the result view, search, people and system."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from scheduler.service import IMAGE_PICTURE, State, UploadNotFound
from search.people import face_id

from . import audit, results, sessions
from .access import Need, needs
from .context import pipeline, ui_settings
from .details import details, place_map, where
from .search import people as search_people

pages = Blueprint("pages", __name__, template_folder="templates")

MEDIA_TYPES = ("image", "video", "audio")


@pages.app_context_processor
def page_context() -> dict[str, Any]:
    return {"csrf_token": sessions.csrf_token, "signed_in": sessions.signed_in}


def local_target(target: str | None) -> str:
    """Only a path on this site may follow sign-in, never another host."""
    parts = urlsplit(target or "")
    if not target or parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.uploads")
    return target


@pages.route("/login", methods=["GET", "POST"])
@needs(Need.PUBLIC)
def login() -> BaseResponse | tuple[str, int]:
    target = local_target(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", next=target, error=""), 200
    if not sessions.csrf_ok():
        return render_template("login.html", next=target, error="The form expired: please try again."), 400
    user = request.form.get("user", "")
    found = sessions.sign_in(user, request.form.get("password", ""))
    if found is None:
        audit.signed_in(user, ok=False)
        message = "That user name and password do not match: `make up` printed the admin's on first start."
        return render_template("login.html", next=target, error=message), 401
    audit.signed_in(found.user, ok=True, workspace=found.workspace)
    return redirect(target)


@pages.post("/logout")
@needs(Need.PUBLIC)
def logout() -> BaseResponse:
    if sessions.csrf_ok():
        sessions.sign_out()
    return redirect(url_for("pages.login"))


@pages.post("/workspace")
@needs(Need.SIGNED_IN)
def switch_workspace() -> BaseResponse | tuple[str, int]:
    """Works in another of the person's workspaces (a form in the page header)."""
    if not sessions.switch_workspace(request.form.get("workspace", "")):
        return "you are no member of that workspace\n", 403
    return redirect(local_target(request.form.get("next")))


@pages.get("/")
@needs(Need.SIGNED_IN)
def home() -> BaseResponse:
    return redirect(url_for("pages.uploads"))


@pages.get("/upload")
@needs(Need.EDITOR)
def upload() -> str:
    return render_template("upload.html", active="upload",
                           max_bytes=current_app.config["MAX_UPLOAD_BYTES"])


FILTERS = ("state", "media_type", "person", "since", "until")


@pages.get("/uploads")
@needs(Need.VIEWER)
def uploads() -> str:
    """The library: its script lists the uploads a page at a time through the API, with these filters."""
    chosen = {name: request.args.get(name, "")[:200] for name in FILTERS}
    return render_template("uploads.html", active="uploads", filters=chosen, states=[s.value for s in State],
                           media_types=MEDIA_TYPES)


def name_faces(upload_id: str, found: dict[str, Any]) -> None:
    """Puts each face's person (id and name) on the image's face results, for the overlay."""
    faces = (found.get("faces") or {}).get("faces") or []
    ids = [face_id(upload_id, IMAGE_PICTURE, number) for number in range(len(faces))]
    persons = search_people().persons_of(ids)
    for identity, face in zip(ids, faces, strict=True):
        if identity in persons:
            face["person"] = persons[identity]


def result_view(upload_id: str) -> dict[str, Any] | None:
    """Everything the result view draws, with presigned URLs the browser loads media from."""
    try:
        view = pipeline().view(upload_id, g.workspace)
    except UploadNotFound:
        return None
    found = view["results"]
    name_faces(upload_id, found)
    parts = ("steps", "results", "artefacts", "source", "download", "timeline")
    upload = {key: value for key, value in view.items() if key not in parts}
    newer, older = pipeline().neighbours(upload_id, g.workspace)
    probe = found.get("probe") if isinstance(found.get("probe"), dict) else {}
    place = where(probe)
    return {
        "upload": upload,
        "name": upload["path"].rsplit("/", 1)[-1],
        "folder": upload["path"].rpartition("/")[0],
        "newer": newer,
        "older": older,
        "download": view["download"],
        "details": details(upload, probe),
        "map": place_map(*place, ui_settings().map_tiles) if place else None,
        "media_type": upload["media_type"] or str(found.get("probe", {}).get("media_type") or ""),
        "steps": dict(sorted(view["steps"].items(), key=lambda item: (item[1]["position"], item[0]))),
        "results": found,
        "artefacts": view["artefacts"],
        "source": view["source"],
        "timeline": view["timeline"],
        "segments": results.segments(found),
        "labels": results.labels(found),
    }


@pages.get("/uploads/<upload_id>")
@needs(Need.VIEWER)
def result(upload_id: str) -> tuple[str, int]:
    view = result_view(upload_id)
    if view is None:
        return render_template("missing.html", active="uploads", upload_id=upload_id), 404
    return render_template("result.html", active="uploads", view=view), 200


@pages.get("/search")
@needs(Need.VIEWER)
def search() -> str:
    return render_template("search.html", active="search", query=request.args.get("q", ""))


@pages.get("/people")
@needs(Need.VIEWER)
def people() -> str:
    return render_template("people.html", active="people")


@pages.get("/system")
@needs(Need.OPERATOR)
def system_page() -> str:
    return render_template("system.html", active="system", **pipeline().health())


@pages.get("/workspace")
@needs(Need.SIGNED_IN)
def workspace_page() -> str:
    """The workspace: who works in it with which role, its keys, audit log and usage (owners)."""
    return render_template("workspace.html", active="workspace")
