"""Fingerprints of a picture sent to image search, made exactly as probe makes them for uploads."""

from __future__ import annotations

import hashlib

from functions.common.contract import InputError
from functions.common.images import decode_rgb
from functions.probe.fingerprint import perceptual_hash
from search.fingerprints import Fingerprint


class PictureUnreadable(ValueError):
    """The bytes are no picture that probe would read."""


def fingerprint_of(data: bytes) -> Fingerprint:
    """The file's sha256 and the perceptual hash of the picture decoded upright, as probe decodes it."""
    try:
        picture = decode_rgb(data)
    except InputError as exc:
        raise PictureUnreadable(str(exc)) from exc
    return Fingerprint(hashlib.sha256(data).hexdigest(), perceptual_hash(picture))
