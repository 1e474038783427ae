"""Configuration from the environment (the deploy writes one env file) and a config for tests."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
MAX_UPLOAD_BYTES = 4 * 1024 * 1024


class EnvSettingError(RuntimeError):
    """A required RAINDROP_* environment setting is missing or malformed.

    Not contracts.ConfigError (a stack config key or template variable the deploy refuses): this package runs on
    the hosts on its own, and what it refuses is the environment the env file gave it.
    """


def _flag(environ: Mapping[str, str], name: str, default: str) -> bool:
    value = environ.get(name, default).strip().lower()
    if value not in {"0", "1", "true", "false", "yes", "no"}:
        raise EnvSettingError(f"{name} must be 0 or 1, got {value!r}")
    return value in {"1", "true", "yes"}


def _rate(environ: Mapping[str, str], name: str, default: str) -> tuple[int, int]:
    """Parse a rate such as "10/60" (10 attempts per 60 seconds)."""
    raw = environ.get(name, default)
    try:
        count, seconds = (int(part) for part in raw.split("/"))
    except ValueError:
        raise EnvSettingError(f"{name} must look like COUNT/SECONDS, got {raw!r}") from None
    if count < 1 or seconds < 1:
        raise EnvSettingError(f"{name} must be positive, got {raw!r}")
    return count, seconds


def _positive_int(environ: Mapping[str, str], name: str, default: str) -> int:
    raw = environ.get(name, default)
    if not raw.isdigit() or int(raw) < 1:
        raise EnvSettingError(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)


def _broker_transport(broker_url: str) -> dict[str, str]:
    # Ours (raindrop_server/broker.py says why) for the URLs kombu gives its Redis transport by their scheme;
    # anything else (redis+socket://, sentinel://) keeps the transport kombu picks for it.
    if urlsplit(broker_url).scheme in ("redis", "rediss"):
        return {"broker_transport": "raindrop_server.broker:Transport"}
    return {}


def base_config(
    *,
    secret_key: str,
    database_url: str,
    redis_url: str,
    broker_url: str,
    upload_dir: str,
    upload_url_prefix: str = "/static/uploads/",
    cookie_secure: bool = False,
    feed_cache: bool = True,
    socketio_channel: str = "raindrop",
    auth_rate: tuple[int, int] = (10, 60),
    db_pool_size: int = 30,
    oss: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Build the Flask config dict; every entry point goes through here."""
    return {
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {
            # No ping on every checkout: dbpool.ping_when_idle pings only connections that sat idle (why: there).
            "pool_pre_ping": False,
            "pool_recycle": 1800,
            # No ROLLBACK when a connection goes back to the pool: every use here is through the Flask-SQLAlchemy
            # session, which ends its transaction itself (commit, or the rollback of session.remove() at teardown),
            # so the pool's reset was a second round trip on every request that touched the database.
            "pool_reset_on_return": None,
            # Under gevent one process serves many requests at once, each holding a connection. Every one is kept:
            # an overflow connection is closed on its return, and under load that churn made each request pay
            # for a new connection (PyMySQL builds an SSL context for each, most of a post's CPU time). A request
            # past the pool waits for a connection instead.
            "pool_size": db_pool_size,
            "max_overflow": 0,
            # A dead database answers /api/health with an error quickly instead of hanging.
            "connect_args": {"connect_timeout": 5},
        },
        "REDIS_URL": redis_url,
        "SOCKETIO_CHANNEL": socketio_channel,
        "UPLOAD_DIR": upload_dir,
        "UPLOAD_URL_PREFIX": upload_url_prefix if upload_url_prefix.endswith("/") else upload_url_prefix + "/",
        "OSS": dict(oss or {}),
        "FEED_CACHE": feed_cache,
        "AUTH_RATE": auth_rate,
        # The multipart envelope adds a little to the 4 MB file; the file itself is checked exactly.
        "MAX_CONTENT_LENGTH": MAX_UPLOAD_BYTES + 64 * 1024,
        "SESSION_COOKIE_NAME": "raindrop_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": cookie_secure,
        "CELERY": {
            "broker_url": broker_url,
            **_broker_transport(broker_url),
            "task_ignore_result": True,
            # No result backend is configured (Celery's DisabledBackend, which holds no state). Celery keeps a
            # backend per thread unless told it is thread-safe, and under gevent that means per greenlet: every
            # request that queued a task built one, 4.0% of a new post's web CPU (py-spy on the bench host).
            "result_backend_thread_safe": True,
            # Redis redelivers an unacknowledged late-ack task only after this many seconds.
            "broker_transport_options": {"visibility_timeout": 3600},
            "task_acks_late": False,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            # Connections a web process keeps to the broker for publishing. Celery's default of 10 is shared by
            # every request of a gevent process (dozens at once). A request that finds one free takes it ahead of
            # those already waiting, and a woken waiter that lost the race waits again at the back, so under load
            # some requests waited seconds for a connection: most of create-post's tail latency.
            "broker_pool_limit": 100,
            "broker_connection_retry_on_startup": True,
        },
    }


def config_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read the RAINDROP_* variables described in docs/contracts.md."""
    env = os.environ if environ is None else environ
    secret_key = env.get("RAINDROP_SECRET_KEY", "")
    if not secret_key:
        raise EnvSettingError("RAINDROP_SECRET_KEY is not set")
    database_url = env.get("RAINDROP_DATABASE_URL", "")
    if not database_url:
        raise EnvSettingError("RAINDROP_DATABASE_URL is not set")
    redis_url = env.get("RAINDROP_REDIS_URL", DEFAULT_REDIS_URL)
    oss = {
        key: env[f"RAINDROP_OSS_{key.upper()}"]
        for key in ("endpoint", "bucket", "access_key_id", "access_key_secret", "public_base")
        if env.get(f"RAINDROP_OSS_{key.upper()}")
    }
    return base_config(
        secret_key=secret_key,
        database_url=database_url,
        redis_url=redis_url,
        broker_url=env.get("RAINDROP_BROKER_URL", redis_url),
        upload_dir=env.get("RAINDROP_UPLOAD_DIR", "/srv/raindrop/shared/uploads"),
        upload_url_prefix=env.get("RAINDROP_UPLOAD_URL_PREFIX", "/static/uploads/"),
        cookie_secure=_flag(env, "RAINDROP_COOKIE_SECURE", "0"),
        feed_cache=_flag(env, "RAINDROP_FEED_CACHE", "1"),
        socketio_channel=env.get("RAINDROP_SOCKETIO_CHANNEL", "raindrop"),
        auth_rate=_rate(env, "RAINDROP_AUTH_RATE", "10/60"),
        db_pool_size=_positive_int(env, "RAINDROP_DB_POOL_SIZE", "30"),
        oss=oss,
    )
