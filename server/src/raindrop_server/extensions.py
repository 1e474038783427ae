"""Extensions created unbound here and bound to the app in create_app()."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

import redis
from flask import Flask, current_app
from flask_migrate import Migrate
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from redis.backoff import NoBackoff
from redis.maint_notifications import MaintNotificationsConfig
from redis.retry import Retry
from sqlalchemy.orm import DeclarativeBase

from raindrop_server.redis_connection import HublessCheckConnection


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
# async_mode is left to auto-detection: gevent under gunicorn, threading in tests and the worker.
socketio = SocketIO()

# Every key the app writes in Redis starts with this, so tests can clear the app's keys without
# touching Celery's queues in the same database.
KEY_PREFIX = "rd:"


log = logging.getLogger(__name__)

# After a failed Redis call the process goes straight to MySQL for this long before it tries Redis again, so an
# outage costs one failed call per second, not one (or a retried timeout) on every cache read of every request.
REDIS_RETRY_AFTER_SECONDS = 1.0
# Connections one process keeps to Redis, and how long a request waits for a free one.
REDIS_POOL_SIZE = 200
REDIS_POOL_WAIT_SECONDS = 5


class RedisHealth:
    """Whether this process's last Redis call failed recently (see REDIS_RETRY_AFTER_SECONDS)."""

    def __init__(self) -> None:
        self.down_until = 0.0

    def up(self) -> bool:
        return time.monotonic() >= self.down_until

    def failed(self, what: str, error: Exception) -> None:
        if self.up():  # one line per outage second, not one per request
            log.warning("redis unavailable, %s: %s: %s", what, type(error).__name__, error)
        self.down_until = time.monotonic() + REDIS_RETRY_AFTER_SECONDS


def _connection_class(url: str) -> dict[str, type]:
    # Only for redis:// URLs: a connection_class given to from_url wins over the one it picks for unix:// and
    # rediss:// (redis-py 8.1), and those must keep theirs.
    return {"connection_class": HublessCheckConnection} if urlsplit(url).scheme == "redis" else {}


def init_redis(app: Flask) -> None:
    # Short timeouts: a Redis that stopped answering should fail over to MySQL (or fail the health check), not
    # hang the request. No retries: a refused connection is an outage, and the callers fall back at once.
    # A blocking pool: under gevent hundreds of requests may want a connection at once, and redis-py's default
    # pool would raise at 100 (MaxConnectionsError), which is load, not an outage; here a request waits instead.
    pool = redis.BlockingConnectionPool.from_url(
        app.config["REDIS_URL"],
        max_connections=REDIS_POOL_SIZE,
        timeout=REDIS_POOL_WAIT_SECONDS,
        decode_responses=True,
        socket_connect_timeout=3,
        socket_timeout=5,
        retry=Retry(NoBackoff(), 0),
        # Maintenance notifications are a Redis Enterprise/Cloud feature (the server announcing a failover); while
        # they are on ("auto", redis-py 8's default) the pool ignores what its checkout check finds, and would hand
        # out a connection holding another command's unread reply.
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
        **_connection_class(app.config["REDIS_URL"]),
    )
    app.extensions["redis"] = redis.Redis(connection_pool=pool)
    app.extensions["redis_health"] = RedisHealth()


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]


def redis_health() -> RedisHealth:
    return current_app.extensions["redis_health"]
