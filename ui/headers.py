"""Security headers on every answer of the app: a strict CSP, no framing, no sniffing, a referrer policy.

Scripts come from this origin only (the pages have no inline script or handler); pictures, video and
uploads also reach the object store's public origin, where presigned URLs point, and pictures the map
tile server when one is set (MEDIALENS_UI_MAP_TILES).
gateway-config/nginx/medialens.conf.template sends the same policy in production.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask
from werkzeug.wrappers import Response


def content_security_policy(store_origin: str, tiles_origin: str = "") -> str:
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' data: blob: {store_origin}" + (f" {tiles_origin}" if tiles_origin else ""),
        f"media-src 'self' blob: {store_origin}",
        f"connect-src 'self' {store_origin}",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def origin(endpoint: str) -> str:
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    return f"{parts.scheme}://{parts.netloc}"


def install(app: Flask, store_endpoint: str, map_tiles: str = "") -> None:
    """The policy on every answer; a map tile server, when one is set, may serve pictures too."""
    policy = content_security_policy(origin(store_endpoint), origin(map_tiles) if map_tiles else "")

    @app.after_request
    def secure(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        return response
