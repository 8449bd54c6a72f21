"""Every medialens process logs JSON lines through one setup, naming the upload and step at hand."""

from __future__ import annotations

import importlib
import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import Headers

from functions.common import logs
from host import metrics
from host.server import HostSettings, create_app
from storage.client import Store
from storage.settings import StorageSettings

# Each kind of process: the module whose main() starts it and the component its lines name.
PROCESSES = {
    "scheduler.intake": "intake",
    "scheduler.worker": "worker",
    "ui.app": "ui",
    "gpu.manager": "gpu-manager",
    "embedded.bridge": "bridge",
    "host.server": "functions-host-cpu",
}


class Started(Exception):
    """Stops a main() once it has set up logging, before it serves anything."""


@pytest.fixture
def root_handlers() -> Iterator[None]:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    yield
    root.handlers[:] = saved
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize("module_name", sorted(PROCESSES))
def test_each_process_logs_json_lines_with_the_upload_and_step(
    module_name: str, monkeypatch: pytest.MonkeyPatch, root_handlers: None
) -> None:
    stream = io.StringIO()
    real = logs.configure_logging

    def configure(component: str, level: int = logging.INFO, stream_: Any = None) -> None:
        real(component, level, stream)
        raise Started(component)

    module = importlib.import_module(module_name)
    monkeypatch.setattr(logs, "configure_logging", configure)
    if hasattr(module, "configure_logging"):  # imported at the top rather than inside main()
        monkeypatch.setattr(module, "configure_logging", configure)
    monkeypatch.setenv("MEDIALENS_SCHEDULER_INTAKE_TOKEN", "token")
    with pytest.raises(Started):
        module.main()
    with logs.bound(upload_id="u-1", step="ocr@2"):
        logging.getLogger(module_name).warning("something to say")
    (line,) = lines(stream)
    assert line["component"] == PROCESSES[module_name]
    assert line["level"] == "warning" and line["message"] == "something to say" and line["time"]
    assert line["upload_id"] == "u-1" and line["step"] == "ocr@2"


def answered(stream: io.StringIO) -> list[dict[str, Any]]:
    return [entry for entry in lines(stream) if entry["message"].startswith("answered")]


@pytest.mark.parametrize("route", ["/function/probe", "/async-function/probe"])
def test_the_functions_host_logs_each_call_with_the_callers_upload_and_step(route: str, root_handlers: None) -> None:
    def counted() -> float:
        return metrics.REGISTRY.get_sample_value("medialens_function_requests_total",
                                                 {"function": "probe", "status": "422"}) or 0.0

    counted_before = counted()
    stream = io.StringIO()
    logs.configure_logging("functions-host-cpu", stream=stream)
    app = create_app(HostSettings(functions="probe", token="t"))
    client: FlaskClient = app.test_client()
    with logs.bound(upload_id="u-2", step="probe"):
        sent = logs.headers()
    assert sent == {"X-Medialens-Upload-Id": "u-2", "X-Medialens-Step": "probe"}
    for _ in range(100):  # the probe handler loads in the background
        reply = client.post(route, data=b"not json", headers={**sent, "Authorization": "Bearer t"})
        if reply.status_code != 503:
            break
        time.sleep(0.05)
    assert reply.status_code == (202 if route.startswith("/async") else 422)
    for _ in range(100):  # an async call answers once the host's pool has run it
        if answered(stream):
            break
        time.sleep(0.05)
    (line,) = answered(stream)
    assert line["message"].startswith("answered 422")
    assert line["upload_id"] == "u-2" and line["step"] == "probe" and line["function"] == "probe"
    assert line["component"] == "functions-host-cpu"
    assert counted() == counted_before + 1, "the call is counted in the host's metrics"


def test_the_gateway_sends_the_bound_upload_and_step() -> None:
    with logs.bound(upload_id="u-3", step="faces@1"), logs.bound(function="faces"):
        assert logs.from_headers(Headers({k.lower(): v for k, v in logs.headers().items()})) == {
            "upload_id": "u-3", "step": "faces@1"}
    assert logs.headers() == {}, "nothing stays bound after the step"


def test_a_presigned_url_or_a_token_is_logged_without_its_secret(root_handlers: None) -> None:
    stream = io.StringIO()
    logs.configure_logging("worker", stream=stream)
    store = Store(StorageSettings(endpoint="http://127.0.0.1:9", access_key="medialens-ab12", secret_key="s3cret"))
    url = store.presigned_get("uploads", "a/photo.jpg")
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    logger = logging.getLogger("tests.redaction")
    logger.warning("fetching %s with Bearer %s", url, "intake-token-123")
    try:
        raise RuntimeError(f"Client error '403 Forbidden' for url '{url}' from redis://:pw-456@127.0.0.1:6390/0")
    except RuntimeError:
        logger.exception("step failed")
    written = stream.getvalue()
    assert len(lines(stream)) == 2
    assert "photo.jpg" in written and "X-Amz-Signature=REDACTED" in written, "the URL stays readable"
    for secret in (signature, "medialens-ab12", "intake-token-123", "pw-456"):
        assert secret not in written
