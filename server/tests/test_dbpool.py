import subprocess
import sys

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
