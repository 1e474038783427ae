"""/api/health: is the database, Redis and the Celery broker reachable? 200 if all are, else 503."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app

from raindrop_server.extensions import db, get_redis

bp = Blueprint("health", __name__, url_prefix="/api")


def _check(probe: Any) -> str:
    try:
        probe()
    except Exception as error:
        return f"{type(error).__name__}: {error}"[:200]
    return "ok"


def _database() -> None:
    db.session.execute(sa.text("SELECT 1"))


def _broker() -> None:
    with current_app.extensions["celery"].connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=2)


@bp.get("/health")
def health() -> tuple[dict[str, str], int]:
    status = {"db": _check(_database), "redis": _check(lambda: get_redis().ping()), "broker": _check(_broker)}
    return status, 200 if all(value == "ok" for value in status.values()) else 503
