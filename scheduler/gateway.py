"""Calls functions through an OpenFaaS gateway (faasd, the functions host or a GPU node)."""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

import httpx

from functions.common import logs
from storage.client import Audience


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


def plain_error(function: str, reply: httpx.Response) -> str:
    """One sentence for a reply that is not JSON: a short plain-text line as it is (faasd's gateway
    says "Can't reach service for: ocr."), never an HTML error page."""
    line = reply.text.strip().splitlines()[0] if reply.text.strip() else ""
    plain = reply.headers.get("content-type", "").startswith("text/plain")
    if plain and 0 < len(line) <= 200:
        return line
    return f"{function} answered HTTP {reply.status_code} without saying why"


class Gateway:
    """`audience` says which address of the store the functions behind this gateway reach, so the
    URLs in a payload are signed for it; `verify` is what its TLS certificate is checked against."""

    def __init__(
        self,
        name: str,
        url: str,
        auth: tuple[str, str] | None = None,
        token: str = "",
        audience: Audience = Audience.FUNCTIONS,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.auth = auth
        self.audience = audience
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(headers=self.headers, verify=verify)

    def __repr__(self) -> str:
        return f"Gateway({self.name!r}, {self.url!r})"

    def invoke(self, function: str, payload: dict[str, Any], timeout_s: float) -> Reply:
        """One synchronous call; transport errors propagate (httpx.HTTPError)."""
        started = time.perf_counter()
        reply = self.client.post(
            f"{self.url}/function/{function}",
            json=payload,
            # The upload and step being worked on, so the function's own log lines name them.
            headers=logs.headers(),
            timeout=httpx.Timeout(timeout_s, connect=5.0),
        )
        try:
            body = reply.json()
        except ValueError:
            body = {"error": plain_error(function, reply)}
        if not isinstance(body, dict):
            body = {"value": body}
        return Reply(reply.status_code, body, time.perf_counter() - started, self.name,
                     retry_after(reply.headers.get("Retry-After")))

    def functions(self) -> list[dict[str, Any]]:
        reply = self.client.get(f"{self.url}/system/functions", auth=self.auth or ("", ""), timeout=5.0)
        reply.raise_for_status()
        data: list[dict[str, Any]] = reply.json()
        return data

    def healthy(self) -> bool:
        try:
            return self.client.get(f"{self.url}/healthz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False
