"""A picture's perceptual hash: close for the same picture resized, re-encoded or lightly edited.

imagehash's pHash (DCT of a 32 x 32 grey image, 64 bits): 9 photos resized to a third and saved as
JPEG at quality 60 measured 0 bits from their originals here, 36 pairs of different photos 20-40 bits
(two photos of the same man too). Kept apart from the rest of probe's description.
"""

from __future__ import annotations

import imagehash
from PIL import Image

ENGINE = "imagehash-phash-64"


def perceptual_hash(picture: Image.Image) -> str:
    """The pHash as 16 hex digits."""
    return str(imagehash.phash(picture))
