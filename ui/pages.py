"""The web pages: sign-in, upload, the uploads list, the result view, search, people and system."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from scheduler.service import State, UploadNotFound
from search.clip import NOT_INSTALLED
from search.people import PersonNotFound
from search.wording import say

from . import audit, results, sessions
from .access import Need, needs
from .context import pipeline, ui_settings
from .details import details, place_map, where
from .i18n import gettext as _
from .i18n import lazy_gettext
from .search import duplicates_of as search_duplicates
from .search import name_faces
from .search import people as search_people

pages = Blueprint("pages", __name__, template_folder="templates")

SKIPPED_REASON = lazy_gettext("skipped: its model is not installed on this server")
MEDIA_TYPES = ("image", "video", "audio")
ALT_LABELS = 3  # the most likely labels name what a picture shows; more would be noise to a screen reader


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
        return render_template("login.html", next=target, error=_("The form expired: please try again.")), 400
    user = request.form.get("user", "")
    found = sessions.sign_in(user, request.form.get("password", ""))
    if found is None:
        audit.signed_in(user, ok=False)
        message = _("That user name and password do not match: `make up` printed the admin's on first start.")
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
        return _("You are no member of that workspace.") + "\n", 403
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


def alt_text(name: str, found: dict[str, Any]) -> str:
    """What a picture shows, for those who cannot see it: its labels and the text in it, else its name."""
    # What CLIP sees, not the NSFW check's labels: those name what to be wary of, not what is there.
    labels = [item["label"] for item in results.labels({"clip": found.get("clip")})[:ALT_LABELS]]
    text = results.text(found)
    if labels and text:
        return _("Picture of %(labels)s with the text: %(text)s", labels=", ".join(labels), text=text)
    if labels:
        return _("Picture of %(labels)s", labels=", ".join(labels))
    if text:
        return _("Picture with the text: %(text)s", text=text)
    return _("Picture %(name)s (not described yet)", name=name)


def result_view(upload_id: str) -> dict[str, Any] | None:
    """Everything the result view draws, with presigned URLs the browser loads media from."""
    try:
        view = pipeline().view(upload_id, g.workspace)
    except UploadNotFound:
        return None
    found = view["results"]
    name_faces(upload_id, found)
    for step in view["steps"].values():
        if step.get("state") == "skipped":
            # The function's reason names the missing model's directory on the server: of no use here.
            step["reason"] = str(SKIPPED_REASON)
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
        "nsfw_regions": results.nsfw_regions(found),
        "duplicates": search_duplicates(upload_id),
        "clip_missing": results.clip_missing(view["steps"]),
        "captions": results.captions(found),
        "summary": results.summary(found),
        "alt": alt_text(upload["key"].split("/")[-1], found),
    }


@pages.get("/uploads/<upload_id>")
@needs(Need.VIEWER)
def result(upload_id: str) -> tuple[str, int]:
    view = result_view(upload_id)
    if view is None:
        return render_template("missing.html", active="uploads", upload_id=upload_id), 404
    return render_template("result.html", active="uploads", view=view, clip_notice=say(NOT_INSTALLED)), 200


@pages.get("/search")
@needs(Need.VIEWER)
def search() -> str:
    return render_template("search.html", active="search", query=request.args.get("q", ""))


@pages.get("/people")
@needs(Need.VIEWER)
def people() -> str:
    return render_template("people.html", active="people")


@pages.get("/people/<person>")
@needs(Need.VIEWER)
def person_page(person: str) -> tuple[str, int]:
    """One person: every upload and time they appear at, their faces, and the decisions about them."""
    try:
        found = search_people().summary(person)
    except PersonNotFound:
        return render_template("person_missing.html", active="people"), 404
    return render_template("person.html", active="people", person=found["id"], label=found["label"]), 200


@pages.get("/system")
@needs(Need.OPERATOR)
def system_page() -> str:
    return render_template("system.html", active="system", **pipeline().health())


@pages.get("/workspace")
@needs(Need.SIGNED_IN)
def workspace_page() -> str:
    """The workspace: who works in it with which role, its keys, audit log and usage (owners)."""
    return render_template("workspace.html", active="workspace")
