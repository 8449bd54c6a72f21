"""The one grammar of names that travel: steps (``ocr@3``), keyframes, their artefacts and pictures.

A step is one function run on an upload itself (``ocr``) or on one keyframe of a video
(``ocr@3``); its name keys the step's record and result in Redis and its RQ job id. A keyframe's
JPEG is the artefact ``keyframe_3.jpg``, and search calls the picture an analyzer looked at
``image`` (an uploaded image) or ``kf3`` (a keyframe) in its index entries and face ids. Every
spelling is stored somewhere that outlives a deploy (Redis, the store, the vector index), which
is why they differ and stay as they are; no other module writes or reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYFRAME_SEPARATOR = "@"
IMAGE_PICTURE = "image"
_PICTURE_PREFIX = "kf"
# A step is named for its function, and OpenFaaS names a function with a lower-case DNS label.
_FUNCTION = re.compile(r"[a-z][a-z0-9-]*")
# One spelling per index, so that parsing and writing a name again gives the same name.
_INDEX = re.compile(r"0|[1-9][0-9]*")


class MalformedName(ValueError):
    """A step, keyframe or picture name outside this module's grammar."""


def _index(text: str) -> int:
    if not _INDEX.fullmatch(text):
        raise MalformedName(f"a keyframe index is a whole number from 0 without leading zeros, not {text!r}")
    return int(text)


@dataclass(frozen=True, order=True)
class Keyframe:
    """One keyframe of a video, by its ``index`` in the extract result (0, 1, ...)."""

    index: int

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise MalformedName(f"a keyframe index is a whole number from 0, not {self.index!r}")

    @property
    def output(self) -> str:
        """The output name the extract function writes this keyframe to (its request contract)."""
        return f"keyframe_{self.index}"

    @property
    def artefact(self) -> str:
        """The artefact that holds this keyframe's JPEG, and that its image steps read."""
        return f"{self.output}.jpg"

    @property
    def picture(self) -> str:
        """The name search gives this keyframe as a picture (``kf3``)."""
        return f"{_PICTURE_PREFIX}{self.index}"

    @property
    def key(self) -> str:
        """This keyframe's key in the analysis document: its index as text, since JSON keys are."""
        return str(self.index)

    @classmethod
    def from_key(cls, key: str) -> Keyframe:
        return cls(_index(key))

    @classmethod
    def from_picture(cls, name: str) -> Keyframe:
        """The keyframe a picture name such as ``kf3`` names; MalformedName for any other name."""
        if not name.startswith(_PICTURE_PREFIX):
            raise MalformedName(f"{name!r} names no keyframe: a keyframe picture is named like 'kf3'")
        try:
            return cls(_index(name[len(_PICTURE_PREFIX):]))
        except MalformedName as error:
            raise MalformedName(f"{name!r} names no keyframe: {error}") from None


@dataclass(frozen=True)
class StepName:
    """The name of one step: a function, on the upload itself or on one keyframe."""

    function: str
    keyframe: Keyframe | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.function, str) or not _FUNCTION.fullmatch(self.function):
            raise MalformedName(
                f"{self.function!r} is no function name: lower-case letters, digits and '-', starting with a letter"
            )

    def to_str(self) -> str:
        if self.keyframe is None:
            return self.function
        return f"{self.function}{KEYFRAME_SEPARATOR}{self.keyframe.index}"

    def __str__(self) -> str:
        return self.to_str()

    @classmethod
    def parse(cls, text: str) -> StepName:
        """``ocr`` -> StepName("ocr"), ``ocr@3`` -> StepName("ocr", Keyframe(3)); MalformedName otherwise."""
        function, separator, index = text.partition(KEYFRAME_SEPARATOR)
        try:
            return cls(function, Keyframe(_index(index)) if separator else None)
        except MalformedName as error:
            raise MalformedName(
                f"step name {text!r}: {error}; a step is named like 'ocr', or 'ocr@3' on keyframe 3"
            ) from None
