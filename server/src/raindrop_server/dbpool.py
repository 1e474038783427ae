"""Opening a web process's database connections before its first burst of writes needs them.

The pool opens connections lazily, and one costs about 19 ms of CPU here (PyMySQL's handshake and SSL context; 30
took 0.58 s on an idle 2-core host). A freshly (re)started process under load had every waiting request open its
own at once: measured with 64 create-post connections, the first run after a restart had p99 1,310 ms and the next
416 ms. Filled in the background as soon as the worker serves, the pool is ready before most bursts arrive.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask

from raindrop_server.extensions import db

log = logging.getLogger(__name__)


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
