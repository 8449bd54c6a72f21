"""Which content types a user object may carry, and how a browser is told to treat one it downloads.

User objects are served from the S3 origin: one a browser rendered as HTML, SVG or script would run
there. So uploads may only declare a media type, and every URL handed to a browser names the type and
disposition itself (``response-content-type``, ``response-content-disposition``): inline only for
pictures, video and sound that browsers show without running anything, as an attachment otherwise.
"""

from __future__ import annotations

import mimetypes

# SVG is an image type, but a document that may hold script.
SHOWN_INLINE = frozenset({
    "image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/bmp", "image/tiff",
    "video/mp4", "video/webm", "video/ogg", "video/quicktime", "video/x-matroska", "video/x-msvideo",
    "video/mpeg", "audio/mpeg", "audio/ogg", "audio/wav", "audio/x-wav", "audio/webm", "audio/flac",
    "audio/x-flac", "audio/mp4", "audio/aac", "audio/x-m4a",
})
OPAQUE = "application/octet-stream"


def upload_type(declared: str, filename: str) -> str | None:
    """The content type an upload is bound to: the declared one, else the name's; None when it is not
    a medium the platform shows inline (an upload that is not one is refused)."""
    wanted = (declared or mimetypes.guess_type(filename)[0] or "").split(";")[0].strip().lower()
    return wanted if wanted in SHOWN_INLINE else None


def download_headers(key: str) -> dict[str, str | list[str] | tuple[str]]:
    """The response headers a browser's presigned GET of ``key`` asks the store for."""
    guessed = (mimetypes.guess_type(key)[0] or "").lower()
    if guessed in SHOWN_INLINE:
        return {"response-content-type": guessed, "response-content-disposition": "inline"}
    return {"response-content-type": OPAQUE, "response-content-disposition": "attachment"}
