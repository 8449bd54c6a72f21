"""The search environment's app served over HTTP on a loopback port, for the command line and a browser."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import Flask

pytest_plugins = ["tests.search_support"]


@pytest.fixture
def served(api_app: Flask) -> Iterator[str]:
    """The base URL of ``api_app`` served by waitress in a thread of this process (port picked by the OS)."""
    from waitress.server import create_server

    server = create_server(api_app, host="127.0.0.1", port=0, threads=4)
    port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.run, name="served-app", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        thread.join(timeout=10)
