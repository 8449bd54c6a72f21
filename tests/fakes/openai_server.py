"""A local fake of an OpenAI-compatible chat-completions endpoint, as OpenAI documents it and Ollama,
vLLM and llama.cpp's server follow it.

``POST /v1/chat/completions`` with a bearer key takes ``model``, ``messages`` (content as text or
as parts of type ``text`` and ``image_url``), ``max_tokens`` and ``temperature``; it answers
``{"id", "object": "chat.completion", "created", "model", "choices": [{"index", "message": {"role",
"content"}, "finish_reason"}], "usage"}``. Errors are ``{"error": {"message", "type", "param",
"code"}}`` with 401 (bad key), 404 (unknown model), 400 (a request it cannot take), 429 (rate limit,
with Retry-After) and 5xx. Scripted answers (`script`) let a test choose each reply in turn.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server


@dataclass
class Reply:
    """One scripted reply: an answer (status 200), or an error status, or a delay before answering."""

    content: str = ""
    status: int = 200
    retry_after: str | None = None
    delay_s: float = 0.0


def error(status: int, message: str, kind: str, code: str | None = None) -> tuple[Response, int]:
    return jsonify({"error": {"message": message, "type": kind, "param": None, "code": code}}), status


class FakeChat:
    def __init__(self, api_key: str = "sk-test", models: tuple[str, ...] = ("llava",),
                 answer: str = "A dog runs on a sandy beach.\nTags: dog, beach, sand") -> None:
        self.api_key = api_key
        self.models = models
        self.answer = answer
        self.script: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.server = make_server("127.0.0.1", 0, self._app(), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeChat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join()

    def _app(self) -> Flask:
        app = Flask("fake-openai")

        @app.post("/v1/chat/completions")
        def completions() -> Response | tuple[Response, int]:
            if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                return error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
            body = request.get_json(silent=True)
            with self.lock:
                self.requests.append(body if isinstance(body, dict) else {})
                reply = self.script.pop(0) if self.script else Reply(self.answer)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
                return error(400, "'messages' is a required property", "invalid_request_error")
            if body.get("model") not in self.models:
                return error(404, f"The model `{body.get('model')}` does not exist.", "invalid_request_error",
                             "model_not_found")
            for message in body["messages"]:
                content = message.get("content")
                parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
                for part in parts:
                    if part.get("type") == "image_url" and not str(part["image_url"]["url"]).startswith("data:image/"):
                        return error(400, "Invalid image URL.", "invalid_request_error")
            if reply.status == 429:
                answer, status = error(429, "Rate limit reached for requests.", "requests", "rate_limit_exceeded")
                if reply.retry_after is not None:
                    answer.headers["Retry-After"] = reply.retry_after
                return answer, status
            if reply.status != 200:
                return error(reply.status, "The server had an error while processing your request.", "server_error")
            words = reply.content.split()[: int(body.get("max_tokens") or 16)]
            return jsonify({
                "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.content if len(words) ==
                             len(reply.content.split()) else " ".join(words)}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": len(words), "total_tokens": 10 + len(words)},
            })

        return app
