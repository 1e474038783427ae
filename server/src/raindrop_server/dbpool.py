"""The database pool: filled before a web process's first burst of writes needs it, and pinged only when idle.

Filling: the pool opens connections lazily, and one costs about 19 ms of CPU here (PyMySQL's handshake and SSL
context; 30 took 0.58 s on an idle 2-core host). A freshly (re)started process under load had every waiting request
open its own at once: measured with 64 create-post connections, the first run after a restart had p99 1,310 ms and
the next 416 ms. Filled in the background as soon as the worker serves, the pool is ready before most bursts arrive.

Pinging: SQLAlchemy's `pool_pre_ping` is a round trip to MariaDB on every checkout, 8.5% of a new post's web CPU
on the bench host (py-spy), and a wait on every request. What it guards against is a connection that died while it
sat in the pool (MariaDB restarted, wait_timeout, a failover), and that takes time: so a connection back in the pool
for under PING_AFTER_IDLE_SECONDS is handed out as it is, and an older one is pinged first and replaced when the
ping fails (the pool's checkout event, raising DisconnectionError as SQLAlchemy documents). A restart inside that
second costs at most the requests that were about to use its connections: their error is a disconnect, on which
SQLAlchemy drops the whole pool, so the next requests connect afresh.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import sqlalchemy as sa
from flask import Flask

from raindrop_server.extensions import db

log = logging.getLogger(__name__)

PING_AFTER_IDLE_SECONDS = 1.0
_RETURNED_AT = "raindrop_returned_at"  # in the connection record's info: when it last went back to the pool


def ping_when_idle(engine: sa.Engine) -> None:
    """Ping a connection on checkout only when it has been in the pool for PING_AFTER_IDLE_SECONDS or more."""

    def returned(dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        # A connection that was never returned is new: it was just opened, so it is alive.
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise sa.exc.DisconnectionError(f"an idle pooled connection failed its ping: {error}") from error

    sa.event.listen(engine.pool, "checkin", returned)
    sa.event.listen(engine.pool, "checkout", checkout)


def init_app(app: Flask) -> None:
    with app.app_context():
        ping_when_idle(db.engine)


def fill(app: Flask) -> int:
    """Open the pool's connections up to its size and return them to it; returns how many are open in it.

    A database that is down costs one warning: the requests then fail (and report) as they would without this.
    """
    with app.app_context():
        pool = db.engine.pool
        held: list[sa.Connection] = []
        try:
            while pool.checkedin() + pool.checkedout() < pool.size():
                held.append(db.engine.connect())
        except sa.exc.SQLAlchemyError as error:
            log.warning("the database pool was not filled (%d connections open): %s", len(held), error)
        finally:
            for connection in held:
                connection.close()
        return pool.checkedin() + pool.checkedout()
