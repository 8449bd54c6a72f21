"""How a recording is summarized: its material as timed lines, a title and summary, chapters for long ones.

The material is what the scheduler sends (scheduler/summaries.py): transcript segments, keyframe
captions and on-screen text, each with a time. Every prompt asks for the transcript's language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from functions.common.contract import InputError

from .engines import Writer
from .settings import SummarizeSettings

# Whisper's language codes for the languages most recordings are in; any other code is named as it is.
LANGUAGES = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "pl": "Polish", "ru": "Russian", "uk": "Ukrainian", "tr": "Turkish", "ar": "Arabic",
    "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "hi": "Hindi", "sv": "Swedish", "da": "Danish",
    "no": "Norwegian", "fi": "Finnish", "cs": "Czech", "el": "Greek", "he": "Hebrew", "vi": "Vietnamese",
}

SUMMARY = (
    "You summarize recordings from their transcript, the text shown on screen and descriptions of what is "
    "seen. Answer in {language}. Write exactly two lines: 'Title: ' and a title of at most eight words, then "
    "'Summary: ' and two or three sentences."
)
CHAPTER = "You name one part of a recording. Answer in {language} with a title of at most eight words, nothing else."


TITLE_WORDS = 12  # a longer title is cut: the model did not stop where it was asked to


@dataclass(frozen=True)
class Line:
    time: float
    text: str

    def render(self) -> str:
        return f"[{clock(self.time)}] {self.text}"


@dataclass(frozen=True)
class Material:
    lines: list[Line]
    language: str
    duration: float

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Material:
        lines = [
            *_lines(options.get("transcript"), "start", ""),
            *_lines(options.get("captions"), "time", "(seen) "),
            *_lines(options.get("screen_text"), "time", "(on screen) "),
        ]
        if not lines:
            raise InputError("there is nothing to summarize: send options.transcript, captions or screen_text")
        lines.sort(key=lambda line: line.time)
        try:
            duration = float(options.get("duration") or 0.0)
        except (TypeError, ValueError):
            raise InputError("'options.duration' must be a number of seconds") from None
        return cls(lines, str(options.get("language") or ""), max(duration, lines[-1].time))

    @property
    def language_name(self) -> str:
        if not self.language:
            return "the language of the transcript"
        return LANGUAGES.get(self.language.lower(), self.language)


def _lines(items: Any, time_key: str, prefix: str) -> list[Line]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise InputError("'options.transcript', 'captions' and 'screen_text' must be lists")
    found = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("text"), str):
            raise InputError("each transcript, caption or screen text item needs a 'text'")
        text = " ".join(item["text"].split())
        if text:
            found.append(Line(float(item.get(time_key) or 0.0), prefix + text))
    return found


def clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


def cut(lines: Sequence[Line], max_words: int) -> str:
    """The lines as text, at most ``max_words`` words: evenly thinned out, so the end is not lost."""
    total = sum(len(line.text.split()) for line in lines) or 1
    keep = max(1, int(len(lines) * min(1.0, max_words / total)))
    step = len(lines) / keep
    chosen = [lines[int(number * step)] for number in range(keep)]
    return "\n".join(line.render() for line in chosen)


def summarize(material: Material, writer: Writer, config: SummarizeSettings) -> dict[str, Any]:
    """Title, summary and (for long recordings) chapters with their start and end."""
    language = material.language_name
    chapters = []
    if material.duration > config.chapters_after_s:
        chapters = _chapters(material, writer, config, language)
    answer = writer.predict(SUMMARY.format(language=language), cut(material.lines, config.max_input_words),
                            config.max_new_tokens)
    title, summary = parse(answer)
    return {"title": title, "summary": summary, "chapters": chapters, "language": material.language}


def _chapters(material: Material, writer: Writer, config: SummarizeSettings, language: str) -> list[dict[str, Any]]:
    found = []
    start = 0.0
    while start < material.duration:
        end = min(start + config.chapter_s, material.duration)
        part = [line for line in material.lines if start <= line.time < end]
        if part:
            answer = writer.predict(CHAPTER.format(language=language), cut(part, config.max_input_words),
                                    config.chapter_tokens)
            title = parse(answer)[0] or part[0].text[:60]
            found.append({"start": round(start, 3), "end": round(end, 3), "title": title})
        start = end
    return found


def parse(answer: str) -> tuple[str, str]:
    """(title, summary) from 'Title: ...' and 'Summary: ...' lines; a bare answer is its first line and the rest."""
    title, summary, rest = "", "", []
    for line in (line.strip() for line in answer.strip().splitlines()):
        lowered = line.lower()
        if lowered.startswith("title:") and not title:
            title = line[len("title:"):].strip()
        elif lowered.startswith("summary:"):
            summary = line[len("summary:"):].strip()
        elif line:
            rest.append(line)
    if not title and rest:
        title = rest.pop(0)
    summary = " ".join([summary, *rest]).strip()
    if not summary:  # an answer that ignored the two lines asked for: it is the summary, its start the title
        summary, title = title, " ".join(title.split()[:TITLE_WORDS])
    return " ".join(title.strip(" *\"'#").split()[:TITLE_WORDS]), summary
