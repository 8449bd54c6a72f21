"""Every string the pages show is wrapped for translation, and the German catalogue translates each one.

Strings are found as `python -m ui.i18n` finds them (Babel's extractors over ui/); a string wrapped but left
untranslated, a placeholder lost in translation, or text written into a template or script without `_()`
fails here, naming the file and the text. Fix: wrap it, run `python -m ui.i18n`, translate it in
ui/translations/de/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ui.i18n import HERE, LANGUAGES, SOURCE, extracted, js_catalogue, read_catalogue, translations

TRANSLATED = [code for code in LANGUAGES if code != SOURCE]
PLACEHOLDER = re.compile(r"%\((\w+)\)s|\{(\w+)\}")
# Attributes a person reads or a screen reader speaks.
SPOKEN = ("title", "placeholder", "aria-label", "alt", "aria-description")
# Jinja code, comments and statements, which hold no text a person sees (the wrapped strings are inside them).
JINJA = re.compile(r"\{%-?\s*trans\b.*?endtrans\s*-?%\}|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
WORDS = re.compile(r"[A-Za-zÄÖÜäöüß]{2,}")
# Names that stay as they are in every language.
UNTRANSLATED = {"medialens"}
# In scripts: a literal string or template given to something a person sees, not through _() or ngettext().
SHOWN_IN_SCRIPT = re.compile(
    r"""(?:\b(?:text|title|placeholder|alt)|"aria-label")\s*:\s*(["'`])(?P<a>(?:(?!\1).)*)\1"""
    r"""|\b(?:textContent|innerText|title|placeholder)\s*=\s*(["'`])(?P<b>(?:(?!\3).)*)\3"""
)


def wrapped() -> dict[str | tuple[str, ...], list[str]]:
    found: dict[str | tuple[str, ...], list[str]] = {}
    for filename, line, message, _kind in extracted():
        found.setdefault(message, []).append(f"{filename}:{line}")
    return found


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_wrapped_string_is_translated(language: str) -> None:
    catalogue = read_catalogue(language)
    missing = []
    for message, where in wrapped().items():
        key = message[0] if isinstance(message, tuple) else message
        entry = catalogue.get(key)
        forms = (entry.string if isinstance(entry.string, tuple) else (entry.string,)) if entry else ()
        if entry is None or entry.fuzzy or not forms or not all(forms):
            missing.append(f"{key!r} ({', '.join(where)})")
    assert not missing, (
        f"{len(missing)} strings lack a {LANGUAGES[language]} translation; run `python -m ui.i18n` and fill in "
        f"ui/translations/{language}/LC_MESSAGES/messages.po:\n" + "\n".join(missing)
    )
    assert len(wrapped()) > 150, "the extraction found almost nothing: is Babel reading the templates and scripts?"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_every_placeholder(language: str) -> None:
    wrong = []
    for entry in read_catalogue(language):
        if not entry.id:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        wanted = placeholders(str(ids[-1]))
        for text in strings:
            if text and placeholders(str(text)) != wanted:
                wrong.append(f"{ids[0]!r} -> {text!r}")
    assert not wrong, "translations that drop or invent placeholders:\n" + "\n".join(wrong)


class Texts(HTMLParser):
    """The text and spoken attributes of a template with its Jinja parts taken out."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skipping += 1
        self.found += [value for name, value in attrs if name in SPOKEN and value]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.found.append(data)


def unwrapped_in_template(path: Path) -> list[str]:
    parser = Texts()
    parser.feed(JINJA.sub(" ", path.read_text()))
    return [text.strip() for text in parser.found if set(WORDS.findall(text)) - UNTRANSLATED]


def unwrapped_in_script(path: Path) -> list[str]:
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        for match in SHOWN_IN_SCRIPT.finditer(line):
            text = match.group("a") if match.group("a") is not None else match.group("b")
            if WORDS.search(re.sub(r"\$\{.*?\}", "", text)):
                found.append(f"line {number}: {text}")
    return found


@pytest.mark.parametrize("path", sorted((HERE / "templates").glob("*.html")), ids=lambda p: p.name)
def test_templates_show_no_text_outside_a_translation(path: Path) -> None:
    assert unwrapped_in_template(path) == [], f"{path.name} shows text not wrapped in _()"


@pytest.mark.parametrize("path", sorted((HERE / "static").glob("*.js")), ids=lambda p: p.name)
def test_scripts_show_no_text_outside_a_translation(path: Path) -> None:
    assert unwrapped_in_script(path) == [], f"{path.name} shows text not wrapped in ML._() or ML.ngettext()"


def test_the_checks_catch_text_left_unwrapped(tmp_path: Path) -> None:
    """The two guards above find what they are there to find."""
    page = tmp_path / "page.html"
    page.write_text('<h1>{{ _("Hello") }}</h1><p title="Plain title">Left as it is</p><p>medialens</p>'
                    '<p>{% trans n=2 %}{{ n }} wrapped{% endtrans %}</p>')
    assert unwrapped_in_template(page) == ["Plain title", "Left as it is"]
    script = tmp_path / "page.js"
    script.write_text('el("p", { text: _("fine") }); el("b", { text: "forgotten" });\n'
                      'node.textContent = `${n} left`;\n')
    assert unwrapped_in_script(script) == ["line 1: forgotten", "line 2: ${n} left"]


def test_the_scripts_receive_their_strings_translated() -> None:
    from flask import Flask, g

    with Flask(__name__).test_request_context("/"):
        g.language = "de"
        german = js_catalogue()
        g.language = SOURCE
        assert js_catalogue() == {}
    assert german["Searching…"] == "Suche läuft…"
    assert german["{n} face"] == ["{n} Gesicht", "{n} Gesichter"]
    assert german["done"] == "fertig"  # the names of states travel too, for ML.name()
    assert translations("de").gettext("Sign in") == "Anmelden"


@pytest.mark.parametrize(("query", "cookie", "accept", "wanted"), [
    ("", None, "de-DE,de;q=0.9,en;q=0.8", "de"),  # the browser's language
    ("", None, "fr-FR,fr;q=0.9", "en"),  # one the pages do not speak: English
    ("", None, "fr-FR,de;q=0.5", "de"),  # the best the pages speak
    ("", "en", "de-DE", "en"),  # a choice made once holds over the browser's
    ("lang=de", "en", "en", "de"),  # and a new choice over the old one
    ("lang=xx", None, "", "en"),  # nonsense is ignored
])
def test_the_language_is_the_readers_choice_else_their_browsers_else_english(
    query: str, cookie: str | None, accept: str, wanted: str,
) -> None:
    from flask import Flask, request

    from ui.i18n import choose

    with Flask(__name__).test_request_context(f"/?{query}", headers={"Accept-Language": accept}):
        assert choose(request.args, cookie, request.accept_languages) == wanted
