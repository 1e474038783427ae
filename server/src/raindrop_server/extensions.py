"""Extensions created unbound here and bound to the app in create_app()."""

from __future__ import annotations

import redis
from flask import Flask, current_app
from flask_migrate import Migrate
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
# async_mode is left to auto-detection: gevent under gunicorn, threading in tests and the worker.
socketio = SocketIO()

# Every key the app writes in Redis starts with this, so tests can clear the app's keys without
# touching Celery's queues in the same database.
KEY_PREFIX = "rd:"


def init_redis(app: Flask) -> None:
    # Short timeouts: a Redis that stopped answering should fail a request (or the health check), not hang it.
    app.extensions["redis"] = redis.Redis.from_url(
        app.config["REDIS_URL"], decode_responses=True, socket_connect_timeout=3, socket_timeout=5
    )


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]
