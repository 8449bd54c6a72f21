"""A client for any OpenAI-compatible chat-completions endpoint (Ollama, vLLM, llama.cpp server, hosted APIs).

Shared by the caption and summarize functions. Only the documented request and response shapes
are used: ``POST {base}/chat/completions`` with ``model``, ``messages`` (text and ``image_url``
parts), ``max_tokens`` and ``temperature``; the answer is ``choices[0].message.content``. An
endpoint that is down, slow or rate-limited (429) is no fault of the file: it raises EngineBusy,
which the contract answers with 503 and Retry-After, so the scheduler waits and calls again.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings

from .contract import EngineBusy, InputError, ModelNotInstalled

# A 429 or 503 without Retry-After: how long the scheduler is asked to wait before calling again.
DEFAULT_RETRY_AFTER_S = 5.0


class EndpointError(ModelNotInstalled):
    """The endpoint refused the request for good (bad key, unknown model, malformed reply): like a model
    that is not installed, the step is skipped with this reason, and the upload does not fail for it."""


@dataclass(frozen=True)
class ChatEndpoint:
    """Where to send chat requests: the base URL (ending in /v1 for most servers), model and key."""

    url: str
    model: str
    api_key: str = ""
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"the chat endpoint URL must start with http:// or https://, not {self.url!r}")
        if not self.model:
            raise ValueError("the chat endpoint needs a model name")

    @property
    def host(self) -> str:
        return httpx.URL(self.url).host


def image_part(jpeg: bytes) -> dict[str, Any]:
    """A picture as a chat message part, inline as a data URL (the endpoint never fetches our store)."""
    encoded = base64.b64encode(jpeg).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{encoded}"}}


def complete(endpoint: ChatEndpoint, messages: list[dict[str, Any]], max_tokens: int) -> str:
    """The assistant's answer to ``messages``; EngineBusy when it is worth asking again later."""
    body = {"model": endpoint.model, "messages": messages, "max_tokens": max_tokens, "temperature": 0}
    headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
    url = endpoint.url.rstrip("/") + "/chat/completions"
    try:
        reply = httpx.post(url, json=body, headers=headers, timeout=endpoint.timeout_s)
    except httpx.TimeoutException as exc:
        raise EngineBusy(f"the chat endpoint {endpoint.host} did not answer in {endpoint.timeout_s:.0f} s",
                         DEFAULT_RETRY_AFTER_S) from exc
    except httpx.HTTPError as exc:
        raise EngineBusy(f"the chat endpoint {endpoint.host} cannot be reached ({exc})", DEFAULT_RETRY_AFTER_S) from exc
    if reply.status_code == 429 or reply.status_code >= 500:
        raise EngineBusy(f"the chat endpoint {endpoint.host} is busy (HTTP {reply.status_code}: {_error(reply)})",
                         _retry_after(reply))
    if reply.status_code == 400:
        # Most often the picture or text itself (too large, a format the model refuses): the file's fault.
        raise InputError(f"the chat endpoint refused this input: {_error(reply)}")
    if reply.status_code >= 300:
        raise EndpointError(f"the chat endpoint {endpoint.host} refused the request "
                            f"(HTTP {reply.status_code}: {_error(reply)}); check its URL, model and key")
    try:
        content = reply.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise EndpointError(f"the chat endpoint {endpoint.host} answered without choices[0].message.content") from exc
    if isinstance(content, list):  # some servers answer with content parts
        content = "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "").strip()


def _error(reply: httpx.Response) -> str:
    try:
        error = reply.json().get("error")
    except (ValueError, AttributeError):
        return reply.text.strip()[:200] or "no reason given"
    if isinstance(error, dict):
        return str(error.get("message") or error)[:200]
    return str(error or "no reason given")[:200]


def _retry_after(reply: httpx.Response) -> float:
    try:
        return max(float(reply.headers.get("Retry-After", "")), 0.0)
    except ValueError:
        return DEFAULT_RETRY_AFTER_S


class ChatEngineSettings(BaseSettings):
    """The engine settings the caption and summarize functions share; each reads them under its own prefix."""

    engine: Literal["transformers", "endpoint"] = Field(
        default="transformers",
        description="'transformers': a local model from the model directory; 'endpoint': an OpenAI-compatible "
        "chat endpoint (the media or text is sent to it: off unless chosen).",
    )
    endpoint_url: str = Field(
        default="", description="Base URL of the chat endpoint, e.g. http://127.0.0.1:11434/v1 (Ollama)."
    )
    endpoint_model: str = Field(default="", description="Model name the endpoint serves, e.g. llava or gpt-4o-mini.")
    endpoint_key: str = Field(default="", description="API key sent as a bearer token; empty sends none.")
    endpoint_timeout_s: float = Field(default=60.0, description="How long one endpoint request may take.")

    def endpoint(self) -> ChatEndpoint:
        if not self.endpoint_url or not self.endpoint_model:
            prefix = str(self.model_config.get("env_prefix", ""))
            raise EndpointError(
                f"the endpoint engine is chosen but not configured: set {prefix}ENDPOINT_URL and {prefix}ENDPOINT_MODEL"
            )
        return ChatEndpoint(self.endpoint_url, self.endpoint_model, self.endpoint_key, self.endpoint_timeout_s)
