"""The pages' language: English source strings, translated catalogues, and the choice of language per request.

Templates wrap text in ``_("...")`` (Jinja's i18n extension, ``%(name)s`` placeholders); Python code calls
``gettext``; scripts call ``ML._("... {name} ...", {name})`` and ``ML.ngettext(...)`` from app.js, which reads
the translations of the scripts' strings that every page embeds as JSON (``js_catalogue``). The catalogues
are the ``.po`` files under ui/translations, compiled in memory at start, so a fresh clone needs no build
step. `python -m ui.i18n` adds newly wrapped strings to every catalogue for a translator to fill in.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import LazyProxy, NullTranslations, Translations
from flask import Flask, g, has_request_context, request
from werkzeug.wrappers import Response

from search import wording

HERE = Path(__file__).resolve().parent
TRANSLATIONS = HERE / "translations"
DOMAIN = "messages"
SOURCE = "en"
LANGUAGES = {"en": "English", "de": "Deutsch"}
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
# Where wrapped strings are found, and how each kind of file is read (Babel's extractors).
METHODS = [
    ("**/translations/**", "ignore"),
    ("**.py", "python"),
    ("**/templates/**.html", "jinja2"),
    ("**/static/**.js", "javascript"),
]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}
Source = tuple[Path, list[tuple[str, str]], dict[str, Any]]
# The UI, and the search package's words a page shows (an unnamed person, a decision to undo, a CLIP notice).
SOURCES: list[Source] = [
    (HERE, METHODS, KEYWORDS),
    (HERE.parent / "search", [("**.py", "python")], {"say": None, "N_": None}),
]


def catalogue_path(language: str) -> Path:
    return TRANSLATIONS / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(language: str) -> Catalog:
    with catalogue_path(language).open("rb") as source:
        return read_po(source, locale=language)


@cache
def translations(language: str) -> NullTranslations:
    """The compiled catalogue of a language; the source language translates nothing."""
    if language == SOURCE or language not in LANGUAGES:
        return NullTranslations()
    compiled = io.BytesIO()
    write_mo(compiled, read_catalogue(language))
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def extracted(sources: list[Source] = SOURCES) -> Iterator[tuple[str, int, str | tuple[str, ...], str]]:
    """Every wrapped string of the UI: (file, line, message id or singular and plural, extractor)."""
    for root, methods, keywords in sources:
        for filename, line, message, _comments, _context in extract_from_dir(
            str(root), methods, keywords=keywords, comment_tags=(), strip_comment_tags=True,
        ):
            kind = "javascript" if filename.endswith(".js") else "python"
            yield filename, line, message, kind


@cache
def script_messages() -> tuple[str | tuple[str, ...], ...]:
    """The strings the scripts wrap, found once: only these travel to the browser."""
    scripts = extracted([(HERE / "static", [("**.js", "javascript")], KEYWORDS)])
    return tuple(dict.fromkeys(message for _name, _line, message, _kind in scripts))


def language() -> str:
    """The language of this request: a chosen one, else the browser's preference, else English."""
    if has_request_context():
        return str(g.get("language", SOURCE))
    return SOURCE


def gettext(message: str, **variables: Any) -> str:
    translated = translations(language()).gettext(message)
    return translated % variables if variables else translated


def ngettext(singular: str, plural: str, number: int, **variables: Any) -> str:
    translated = translations(language()).ngettext(singular, plural, number)
    return translated % {"num": number, **variables}


def lazy_gettext(message: str) -> LazyProxy:
    """A string translated when it is shown, for names defined once at import."""
    return LazyProxy(gettext, message, enable_cache=False)


# Names of values the pages show (the data keeps the English value): upload and step states, media types, roles.
NAMES: dict[str, LazyProxy] = {
    "queued": lazy_gettext("queued"), "running": lazy_gettext("running"), "done": lazy_gettext("done"),
    "failed": lazy_gettext("failed"), "pending": lazy_gettext("pending"), "skipped": lazy_gettext("skipped"),
    "image": lazy_gettext("image"), "video": lazy_gettext("video"), "audio": lazy_gettext("audio"),
    "viewer": lazy_gettext("viewer"), "editor": lazy_gettext("editor"), "owner": lazy_gettext("owner"),
}


def name_of(value: str) -> str:
    """A state, media type or role in this request's language; an unknown value as it is."""
    found = NAMES.get(value)
    return str(found) if found is not None else value


def js_catalogue() -> dict[str, str | list[str]]:
    """The scripts' strings in this request's language: a text, or a plural's forms [one, other].

    The names of states, media types and roles come along, for `ML.name(value)`."""
    found = translations(language())
    if language() == SOURCE:
        return {}
    out: dict[str, str | list[str]] = {value: str(name) for value, name in NAMES.items()}
    for message in script_messages():
        if isinstance(message, tuple):
            out[message[0]] = [found.ngettext(message[0], message[1], 1), found.ngettext(message[0], message[1], 2)]
        else:
            out[message] = found.gettext(message)
    return out


def choose(args: Any, cookie: str | None, accepted: Any) -> str:
    """?lang= in the address wins, then the remembered choice, then Accept-Language, then English."""
    for wanted in (args.get("lang"), cookie):
        if wanted in LANGUAGES:
            return str(wanted)
    return str(accepted.best_match(LANGUAGES, default=SOURCE))


def switch_to(code: str) -> str:
    """This page's address in another language, its other query values kept."""
    query = {**request.args.to_dict(), "lang": code}
    return f"{request.path}?{urlencode(query)}"


def install(app: Flask) -> None:
    wording.translate = lambda message: translations(language()).gettext(message)
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: translations(language()).gettext(message),
        lambda singular, plural, number: translations(language()).ngettext(singular, plural, number),
        newstyle=True,
    )

    @app.before_request
    def pick_language() -> None:
        g.language = choose(request.args, request.cookies.get(COOKIE), request.accept_languages)

    @app.after_request
    def remember_language(response: Response) -> Response:
        response.vary.add("Accept-Language")  # a cache must not hand one language's page to another reader
        chosen = request.args.get("lang")
        if chosen in LANGUAGES:
            response.set_cookie(COOKIE, chosen, max_age=COOKIE_MAX_AGE, samesite="Lax", httponly=True)
        return response

    @app.context_processor
    def language_context() -> dict[str, Any]:
        return {"language": language, "languages": LANGUAGES, "switch_to": switch_to, "js_catalogue": js_catalogue,
                "state_name": name_of, "media_name": name_of, "role_name": name_of}


def update(languages: Iterable[str]) -> None:
    """Adds every newly wrapped string to each catalogue (untranslated) and drops those no longer used."""
    template = Catalog(project="medialens", fuzzy=False)
    for filename, line, message, kind in extracted():
        flags = ("python-format",) if kind == "python" and "%(" in str(message) else ()
        template.add(message, locations=[(filename, line)], flags=flags)
    for code in languages:
        catalogue = read_catalogue(code)
        template.creation_date = catalogue.creation_date  # a date that changes each run would conflict in merges
        catalogue.update(template, no_fuzzy_matching=True)
        with catalogue_path(code).open("wb") as target:
            # Sorted, without line numbers: branches that wrap strings in parallel merge without conflicts.
            write_po(target, catalogue, width=120, ignore_obsolete=True, no_location=True, sort_output=True)
        missing = [m.id for m in catalogue if m.id and not (all(m.string) if isinstance(m.string, tuple) else m.string)]
        print(f"{code}: {len(missing)} strings to translate in {catalogue_path(code).relative_to(HERE.parent)}")


if __name__ == "__main__":
    update(sys.argv[1:] or [code for code in LANGUAGES if code != SOURCE])
