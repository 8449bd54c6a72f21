"""The words the search package puts before a reader: an unnamed person's label, a decision to undo, a notice.

They are English here, where no reader is known (the CLI, jobs, tests). The UI installs its translator
(`ui.i18n.install`) so that what the API returns to a page is in that page's language, while this package
stays free of Flask. `python -m ui.i18n` finds the strings wrapped in `say()` and `N_()` here.
"""

from __future__ import annotations

from collections.abc import Callable


def _as_is(message: str) -> str:
    return message


# Replaced by the UI with its gettext for the request's language.
translate: Callable[[str], str] = _as_is


def say(message: str, **values: str) -> str:
    """``message`` in the reader's language, its ``{name}`` placeholders filled from ``values`` (a message
    without values is shown as it is: an error's text may hold braces)."""
    translated = translate(message)
    return translated.format(**values) if values else translated


def N_(message: str) -> str:
    """Marks a message defined once (a constant) for translation; `say(CONSTANT)` shows it translated."""
    return message
