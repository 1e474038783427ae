"""The Raindrop app factory, create_app()."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from raindrop_server import (
    auth,
    dbpool,
    errors,
    feed,
    health,
    jsonio,
    notifications,
    openapi,
    posts,
    presence,
    realtime,  # noqa: F401 - registers the Socket.IO handlers
    security_headers,
    timeline,
    uploads,
    users,
)
from raindrop_server.celery_app import celery_init_app
from raindrop_server.config import config_from_env
from raindrop_server.extensions import db, init_redis, migrate, socketio
from raindrop_server.sessions import HourlyRefreshSessionInterface
from raindrop_server.socketio_manager import RoomIndexedRedisManager

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from config, or from the RAINDROP_* environment when config is None."""
    app = Flask("raindrop_server")  # the package: its static/ folder and the Celery app name
    app.config.update(config_from_env() if config is None else config)
    jsonio.init_app(app)
    db.init_app(app)
    dbpool.init_app(app)
    app.session_interface = HourlyRefreshSessionInterface()
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    init_redis(app)
    timeline.init_app(app)
    presence.init_app(app)
    celery_init_app(app)
    # The Redis message queue lets several gunicorn processes and the Celery worker emit to any client.
    # WebSocket only: one connection holds the whole Engine.IO session, so nginx may send each client to any
    # gunicorn process (long-polling would need every request of a session on the process that opened it).
    socketio.init_app(
        app,
        client_manager=RoomIndexedRedisManager(app.config["REDIS_URL"], channel=app.config["SOCKETIO_CHANNEL"]),
        transports=["websocket"],
    )
    # gunicorn listens on localhost behind nginx: one proxy hop supplies the client address (rate
    # limits count per client) and the scheme. Wrapped last so Socket.IO's middleware sees them too.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    errors.init_app(app)
    security_headers.init_app(app)
    for blueprint in (auth.bp, users.bp, posts.bp, feed.bp, notifications.bp, uploads.bp, health.bp, openapi.bp):
        app.register_blueprint(blueprint)
    return app
