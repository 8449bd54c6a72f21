"""The analysis image: a picture decoded once, upright RGB of at most `analysis_long_side`, that every
image analyzer reads instead of decoding the original again.

JPEG at quality 95 with full colour resolution (4:4:4): on two sample photos at 1280 px its pixels
differ from the image analyzers made for themselves by 0.5-0.75 levels on average (99 % within 3), at
300-370 KiB; quality 85 with halved colour (Pillow's default) doubles that error on the edges of small
text and thin coloured shapes that OCR and the detectors read, and PNG would weigh several megabytes.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from functions.common import contract, images
from functions.common.settings import settings

OUTPUT = "analysis"  # the probe's output; the scheduler stores it as artefact `analysis.jpg`
QUALITY = 95


def write(request: contract.Request, described: dict[str, Any], picture: Image.Image) -> dict[str, Any]:
    """Writes the analysis image through the request's `analysis` output, unless the upload already is
    one; says which, and the size the analyzers see."""
    long_side = settings().analysis_long_side
    if _already_analysable(described, long_side):
        return {
            "written": False, "width": picture.width, "height": picture.height,
            "reason": f"the upload is an upright RGB JPEG of at most {long_side} px: analyzers read it as it is",
        }
    with request.timed("analysis_image"):
        fitted = images.fit_long_side(picture, long_side)
        buffer = io.BytesIO()
        fitted.save(buffer, "JPEG", quality=QUALITY, subsampling=0)
    written = request.put_output(OUTPUT, buffer.getvalue(), "image/jpeg")
    return {"written": written, "width": fitted.width, "height": fitted.height, "bytes": buffer.tell()}


def _already_analysable(described: dict[str, Any], long_side: int) -> bool:
    """A JPEG of RGB pixels, stored upright and no larger than the analysis size, decodes to the very
    pixels an analysis image would hold: re-encoding it would only lose some of them."""
    stored = described.get("image") or {}
    orientation = (described.get("metadata") or {}).get("orientation", 1)
    return (
        stored.get("format") == "JPEG" and stored.get("mode") == "RGB" and orientation == 1
        and max(described["width"], described["height"]) <= long_side
    )
