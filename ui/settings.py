"""Web app settings (environment variables prefixed MEDIALENS_UI_)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class UiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_UI_")

    host: str = Field("127.0.0.1", description="Address the web app binds to.")
    port: int = Field(8000, description="Port of the web app and its API.")
    share_port: bool = Field(
        False, description="Bind the port so that other web-app processes of the same user may bind it too "
        "(SO_REUSEPORT): the kernel spreads new connections among them. The embedded stack sets it when it "
        "runs more than one (`ui_processes`).",
    )
    secret_key: str = Field("", description="Flask's signing key (sessions live in Redis; the cookie holds an id).")
    metrics_token: str = Field(
        "", description="A bearer token that reads /metrics and nothing else (Prometheus); empty: operators only."
    )
    session_idle_s: int = Field(8 * 3600, description="A browser session unused this long ends.")
    session_max_s: int = Field(7 * 24 * 3600, description="A browser session ends this long after sign-in.")
    secure_cookies: bool = Field(
        False, description="Mark the session cookie Secure on every request (it always is on HTTPS requests)."
    )
    proxies: int = Field(
        0, description="Reverse proxies in front of the app (nginx: 1): their X-Forwarded-For and -Proto are "
        "trusted, for the client's address (throttling) and HTTPS (Secure cookies).",
    )
    threads: int = Field(16, description="Server threads: requests answered at once (a live-progress page holds one).")
    event_streams: int = Field(
        0, description="Live-progress streams served at once (0: half the threads); a page opened beyond them is "
        "told to reconnect later, so pages and API calls always find a server thread. Must be below `threads`.",
    )
    max_upload_bytes: int = Field(2 * 1024**3, description="Largest file the API hands an upload URL for.")
    sign_in_limit: str = Field(
        "10 per minute", description="Failed sign-ins a client may make (then every sign-in is refused a while)."
    )
    key_failure_limit: str = Field(
        "30 per minute", description="Requests with a wrong API key a client may make before it is refused."
    )
    search_limit: str = Field("60 per minute", description="Searches one client may run.")
    search_max_query_chars: int = Field(
        500, description="Longest search query; a longer one is refused (each query is scanned and embedded)."
    )
    map_tiles: str = Field(
        "", description="A map tile URL with {z}, {x} and {y} (https://tile.openstreetmap.org/{z}/{x}/{y}.png) "
        "for the map of where a photo was taken; empty: no map, and no request leaves for a tile server.",
    )

    @model_validator(mode="after")
    def _threads_left_for_pages(self) -> UiSettings:
        if self.threads < 2:
            raise ValueError(f"MEDIALENS_UI_THREADS ({self.threads}) must be at least 2: one for live progress, "
                             "one for pages and the API")
        self.event_streams = self.event_streams or self.threads // 2
        if not 0 < self.event_streams < self.threads:
            raise ValueError(f"MEDIALENS_UI_EVENT_STREAMS ({self.event_streams}) must be at least 1 and below "
                             f"MEDIALENS_UI_THREADS ({self.threads}): the threads left over answer pages and the API")
        return self
