"""The web application factory."""

from __future__ import annotations

import logging
import secrets
import socket
from typing import Any

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

from accounts.settings import AccountsSettings
from accounts.upgrade import FirstStart, upgrade
from accounts.users import absent_hash
from scheduler import service
from search import upgrade as search_upgrade
from search.hook import SearchHook
from search.index import index
from storage.client import Store, public_endpoint

from . import access, events, headers, i18n, inputs, limits, metrics
from .access import Need, needs
from .api import api
from .gpu import gpu
from .openapi import openapi
from .pages import pages
from .search import search, search_index
from .sessions import RedisSessions
from .settings import UiSettings
from .workspaces import workspaces

logger = logging.getLogger(__name__)


def announce(first: FirstStart) -> None:
    """Tells whoever runs the app, once, how to sign in the first time (`make up` tells it itself)."""
    if first.password:
        logger.warning("first start: sign in as 'admin' with the password %s and change it", first.password)


def create_app(config: UiSettings | None = None, store: Store | None = None) -> Flask:
    config = config or UiSettings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=config.secret_key or secrets.token_hex(32),
        MAX_UPLOAD_BYTES=config.max_upload_bytes,
        JSON_SORT_KEYS=False,
    )
    app.extensions["medialens.ui"] = config
    app.extensions["medialens.pipeline"] = pipeline = service.connect(store)
    pipeline.join(SearchHook(pipeline.records, pipeline.queue, search_index))
    pipeline.records.ensure_index()
    announce(upgrade(pipeline.redis, AccountsSettings().admin_password))
    search_upgrade.to_workspaces(index())
    app.session_interface = RedisSessions(pipeline.redis, config)
    if config.proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.proxies, x_proto=config.proxies)  # type: ignore[method-assign]
    inputs.install(app)
    i18n.install(app)
    headers.install(app, public_endpoint(pipeline.store.settings), config.map_tiles)
    app.register_blueprint(openapi)
    app.register_blueprint(api)
    app.register_blueprint(workspaces)
    app.register_blueprint(gpu)
    metrics.install(app)
    app.register_blueprint(pages)
    events.install(app, config.event_streams)
    app.register_blueprint(search)
    limits.limiter(app, config, pipeline.redis)
    # After the limiter: a client over its limit of wrong keys is refused before its key is looked at.
    access.install(app)

    @app.get("/healthz")
    @needs(Need.PUBLIC)
    def healthz() -> Response:
        return Response("OK", status=200)

    return app


def serving(config: UiSettings) -> dict[str, Any]:
    """waitress's settings for the app. No read-ahead (`channel_request_lookahead`): with it, a request body the
    app refused unread was once parsed as the start of the next request on that connection. poll() rather
    than select() to watch the connections: select() stops the server for good once the process holds a
    descriptor numbered over 1,023 (an index opened in process holds four per collection)."""
    return {"threads": config.threads, "ident": "medialens", "asyncore_use_poll": True}


def main() -> None:
    from waitress import serve

    from functions.common.logs import configure_logging

    configure_logging("ui")
    config = UiSettings()
    app = create_app(config)
    absent_hash()  # made before serving, so that even the first unknown name costs what a wrong password does
    if config.share_port:
        serve(app, sockets=[shared_socket(config.host, config.port)], **serving(config))
    else:
        serve(app, host=config.host, port=config.port, **serving(config))


def shared_socket(host: str, port: int) -> socket.socket:
    """The app's listening socket, which other processes of this user may bind as well: the kernel hands
    each new connection to one of them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, reuse_port=True)


if __name__ == "__main__":
    main()
