import subprocess
import sys
import time

import sqlalchemy as sa
from raindrop_server import dbpool
from raindrop_server.config import config_from_env
from raindrop_server.extensions import db
from raindrop_server.factory import create_app


def pool_app(env: dict[str, str], **overrides: str):
    return create_app({**config_from_env({**env, **overrides}), "TESTING": True})


def opened(app) -> list[object]:
    """Records each new database connection the app's pool opens."""
    connects: list[object] = []
    with app.app_context():
        sa.event.listen(db.engine, "connect", lambda dbapi_connection, record: connects.append(dbapi_connection))
    return connects


def test_fill_opens_the_pool_up_to_its_size_once(test_env):
    app = pool_app(test_env, RAINDROP_DB_POOL_SIZE="4")
    connects = opened(app)
    assert dbpool.fill(app) == 4
    with app.app_context():
        pool = db.engine.pool
        assert (len(connects), pool.checkedin(), pool.checkedout()) == (4, 4, 0)
        # A full pool is left as it is: no connection is opened or closed.
        assert dbpool.fill(app) == 4
        assert (len(connects), pool.checkedin()) == (4, 4)
        # What a request holds counts: the fill opens only the rest.
        with db.engine.connect():
            assert dbpool.fill(app) == 4
        assert len(connects) == 4
        db.engine.dispose()


def test_fill_counts_what_it_could_open_when_the_database_is_down(test_env, caplog):
    closed = sa.make_url(test_env["RAINDROP_DATABASE_URL"]).set(host="127.0.0.1", port=1)
    app = pool_app(test_env, RAINDROP_DATABASE_URL=closed.render_as_string(hide_password=False))
    assert dbpool.fill(app) == 0
    [record] = [r for r in caplog.records if r.name == "raindrop_server.dbpool"]
    assert record.getMessage().startswith("the database pool was not filled (0 connections open): ")


def test_the_gunicorn_entry_point_fills_the_pool_in_the_background(test_env):
    script = (
        "import raindrop_server.wsgi as w, gevent; "
        "from raindrop_server.extensions import db; "
        "ctx = w.app.app_context(); ctx.push(); pool = db.engine.pool; "
        "before = pool.checkedin(); "
        "[gevent.sleep(0.05) for _ in range(200) if pool.checkedin() < pool.size()]; "
        "print(before, pool.checkedin(), pool.size())"
    )
    env = {**test_env, "RAINDROP_DB_POOL_SIZE": "3"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    # Nothing was opened while the module was imported; the greenlet then filled the pool.
    assert result.stdout.split() == ["0", "3", "3"], result.stderr


def _server_thread(connection: sa.Connection) -> int:
    return connection.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()


def test_a_connection_back_moments_ago_is_used_without_a_ping_and_an_idle_one_is_pinged(test_env, monkeypatch):
    # Through create_app: no pre-ping on every checkout (none below), the idle ping installed (one below).
    app = pool_app(test_env, RAINDROP_DB_POOL_SIZE="1")
    with app.app_context():
        engine = db.engine
        pings: list[object] = []
        real_ping = engine.dialect.do_ping
        monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(conn) or real_ping(conn))
        monkeypatch.setattr(dbpool, "PING_AFTER_IDLE_SECONDS", 0.3)
        with engine.connect() as connection:  # new: no ping
            first = _server_thread(connection)
        with engine.connect() as connection:  # back moments ago: no ping
            assert _server_thread(connection) == first
        assert pings == []
        time.sleep(0.4)
        with engine.connect() as connection:  # idle: pinged, alive, kept
            assert _server_thread(connection) == first
        assert len(pings) == 1
        engine.dispose()


def test_an_idle_connection_the_server_dropped_is_replaced_on_checkout(test_env, monkeypatch):
    app = pool_app(test_env, RAINDROP_DB_POOL_SIZE="1")
    with app.app_context():
        engine = db.engine
        monkeypatch.setattr(dbpool, "PING_AFTER_IDLE_SECONDS", 0.1)
        with engine.connect() as connection:
            dropped = _server_thread(connection)
        killer = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
        with killer.connect() as other:
            other.execute(sa.text(f"KILL {dropped}"))
        killer.dispose()
        time.sleep(0.2)
        # The checkout's ping fails, the pool opens a new connection, and the statement runs on it.
        with engine.connect() as connection:
            assert _server_thread(connection) != dropped
        engine.dispose()
