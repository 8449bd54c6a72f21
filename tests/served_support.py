"""The search environment's app served over HTTP on a loopback port, for the command line and a browser."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask

pytest_plugins = ["tests.search_support"]


@contextmanager
def serving_in_thread(app: Flask) -> Iterator[str]:
    """The base URL of ``app`` served as `make up` serves it, by waitress in a thread of this process."""
    from waitress.server import create_server

    from ui.app import serving

    server = create_server(app, host="127.0.0.1", port=0, **serving(app.extensions["medialens.ui"]))
    port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.run, name="served-app", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        thread.join(timeout=10)


@pytest.fixture
def served(api_app: Flask) -> Iterator[str]:
    """The base URL of ``api_app`` served over HTTP (port picked by the OS)."""
    with serving_in_thread(api_app) as url:
        yield url
