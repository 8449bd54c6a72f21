"""Calls functions through an OpenFaaS gateway (faasd, the functions host or a GPU node)."""

from __future__ import annotations

import base64
import json
import ssl
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

from functions.common import logs
from storage.client import Audience

from .transport import Answer, Connections, GatewayError


class Verdict(Enum):
    """What a function's HTTP status means to a caller (functions/common/contract.py writes them)."""

    OK = "ok"
    REJECTED = "rejected"  # 400/422: the input is bad; retrying cannot help, the reason is for a person
    UNAVAILABLE = "unavailable"  # 501: the engine's model is not installed
    NOT_DEPLOYED = "not_deployed"  # 404: the gateway has no such function
    LOADING = "loading"  # 503: the model is still loading; wait, it is no failure
    TRANSIENT = "transient"  # 429, 500, 502, 504: worth another attempt
    ERROR = "error"  # anything else


VERDICTS = {
    400: Verdict.REJECTED, 422: Verdict.REJECTED, 501: Verdict.UNAVAILABLE, 404: Verdict.NOT_DEPLOYED,
    503: Verdict.LOADING, 429: Verdict.TRANSIENT, 500: Verdict.TRANSIENT, 502: Verdict.TRANSIENT,
    504: Verdict.TRANSIENT,
}


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    duration_s: float
    gateway: str
    retry_after_s: float | None = None  # a 503's Retry-After: when the function asks to be called again

    @property
    def verdict(self) -> Verdict:
        return Verdict.OK if self.status < 300 else VERDICTS.get(self.status, Verdict.ERROR)

    @property
    def error(self) -> str:
        return str(self.body.get("error") or self.body.get("message") or f"HTTP {self.status}")


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not used by functions)."""
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


def plain_error(function: str, reply: Answer) -> str:
    """One sentence for a reply that is not JSON: a short plain-text line as it is (faasd's gateway
    says "Can't reach service for: ocr."), never an HTML error page."""
    line = reply.text.strip().splitlines()[0] if reply.text.strip() else ""
    plain = reply.headers.get("content-type", "").startswith("text/plain")
    if plain and 0 < len(line) <= 200:
        return line
    return f"{function} answered HTTP {reply.status} without saying why"


class Gateway:
    """`audience` says which address of the store the functions behind this gateway reach, so the
    URLs in a payload are signed for it; `verify` is what its TLS certificate is checked against (None: the
    system's certificate authorities). Transport failures raise a transport.GatewayError."""

    def __init__(
        self,
        name: str,
        url: str,
        auth: tuple[str, str] | None = None,
        token: str = "",
        audience: Audience = Audience.FUNCTIONS,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.auth = auth
        self.audience = audience
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.connections = Connections(self.url, verify)

    def __repr__(self) -> str:
        return f"Gateway({self.name!r}, {self.url!r})"

    def invoke(self, function: str, payload: dict[str, Any], timeout_s: float) -> Reply:
        """One synchronous call."""
        started = time.perf_counter()
        # The upload and step being worked on, so the function's own log lines name them.
        headers = {**self.headers, **logs.headers(), "Content-Type": "application/json"}
        reply = self.connections.request(
            "POST", f"/function/{function}", headers, json.dumps(payload).encode(), timeout_s)
        try:
            body = reply.json()
        except ValueError:
            body = {"error": plain_error(function, reply)}
        if not isinstance(body, dict):
            body = {"value": body}
        return Reply(reply.status, body, time.perf_counter() - started, self.name,
                     retry_after(reply.headers.get("Retry-After")))

    def functions(self) -> list[dict[str, Any]]:
        user, password = self.auth or ("", "")
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        reply = self.connections.request("GET", "/system/functions", {"Authorization": f"Basic {basic}"},
                                         timeout_s=5.0)
        if reply.status != 200:
            raise GatewayError(f"{self.url}/system/functions answered HTTP {reply.status}")
        data: list[dict[str, Any]] = reply.json()
        return data

    def healthy(self) -> bool:
        try:
            return self.connections.request("GET", "/healthz", {}, timeout_s=2.0).status == 200
        except GatewayError:
            return False
