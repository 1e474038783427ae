"""Fixtures: a real MariaDB database and Redis database of the tests' own, the app, and on demand a
real Celery worker and a real gunicorn (gevent-websocket worker) running the same code."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import requests
import sqlalchemy as sa
from raindrop_server import create_app
from raindrop_server.config import config_from_env
from raindrop_server.extensions import KEY_PREFIX, db
from raindrop_server.models import Comment, Follow, Notification, Post, User
from sqlalchemy.engine import make_url

DATABASE_URL = os.environ.get(
    "RAINDROP_TEST_DATABASE_URL", "mysql+pymysql://raindrop_test:raindrop_test@127.0.0.1:3306/?charset=utf8mb4"
)
REDIS_URL = os.environ.get("RAINDROP_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
CLAIM_KEY = "raindrop-test-session"
BIN = Path(sys.executable).parent
GUNICORN_WORKER = "geventwebsocket.gunicorn.workers.GeventWebSocketWorker"


def wait_until(check, what: str, timeout: float = 60.0, interval: float = 0.1):
    """Poll check() until it returns something truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"timed out waiting for {what}")


def next_reply_after_a_stale_one(pool: redis.ConnectionPool) -> bytes | str:
    """Leave another command's reply unread on a pooled connection, check it out again, and return what the next
    command reads: its own answer ("fresh") if the checkout saw the stale reply and reconnected."""
    connection = pool.get_connection()
    connection.send_command("ECHO", "stale")
    # Wait until the reply is on the socket, without reading it.
    assert connection.can_read(timeout=2) is True
    pool.release(connection)
    again = pool.get_connection()
    try:
        assert again is connection
        again.send_command("ECHO", "fresh")
        return again.read_response()
    finally:
        pool.release(again)


def claim_redis_db(url: str, token: str) -> str:
    """The URL of a Redis database this session may flush: the configured one unless another test
    session (another checkout, a helper, the benchmark) holds it, then the next free one."""
    parts = urlsplit(url)
    preferred = int(parts.path.lstrip("/") or 0)
    for number in [preferred, *(n for n in range(15, 7, -1) if n != preferred)]:
        candidate = urlunsplit(parts._replace(path=f"/{number}"))
        if redis.Redis.from_url(candidate).set(CLAIM_KEY, token, nx=True, ex=3 * 3600):
            return candidate
    pytest.exit("every candidate Redis database is claimed by another test session", returncode=2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def test_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """RAINDROP_* variables for a freshly migrated database of this run's own."""
    name = f"raindrop_test_{uuid.uuid4().hex[:12]}"
    server_url = make_url(DATABASE_URL).set(database=None)
    admin = sa.create_engine(server_url)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    except sa.exc.OperationalError as error:
        pytest.exit(f"cannot reach the test MariaDB (run scripts/services-up.sh): {error}", returncode=2)
    redis_url = claim_redis_db(REDIS_URL, name)
    redis_client = redis.Redis.from_url(redis_url)
    redis_client.flushdb()
    redis_client.set(CLAIM_KEY, name, ex=3 * 3600)
    env = {
        **os.environ,
        "RAINDROP_SECRET_KEY": "test-secret-" + uuid.uuid4().hex,
        "RAINDROP_DATABASE_URL": make_url(DATABASE_URL).set(database=name).render_as_string(hide_password=False),
        "RAINDROP_REDIS_URL": redis_url,
        "RAINDROP_UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads")),
        # Pub/sub channels ignore the Redis db number: a channel of our own keeps runs apart.
        "RAINDROP_SOCKETIO_CHANNEL": f"raindrop-test-{name}",
        "RAINDROP_AUTH_RATE": "10/60",
    }
    # The schema comes from the migrations, through the console script the deploy runs.
    subprocess.run([BIN / "raindrop", "db", "upgrade"], env=env, check=True, capture_output=True)
    try:
        yield env
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()
        redis_client.flushdb()  # the claim goes with it


@pytest.fixture(scope="session")
def app(test_env: dict[str, str]):
    flask_app = create_app({**config_from_env(test_env), "TESTING": True})
    yield flask_app
    with flask_app.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empty the tables and the app's Redis keys before each test that uses the app."""
    if "app" not in request.fixturenames:
        yield
        return
    flask_app = request.getfixturevalue("app")
    with flask_app.app_context():
        for model in (Notification, Comment, Post, Follow, User):
            db.session.execute(sa.delete(model))
        db.session.commit()
        # Only the app's keys: Celery's queue and bindings in the same db must survive a running worker.
        client = flask_app.extensions["redis"]
        keys = list(client.scan_iter(f"{KEY_PREFIX}*", count=1000))
        if keys:
            client.delete(*keys)
    yield


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_client(app):
    """A logged-in test client per new user: make_client("alice")."""

    def make(username: str):
        new_client = app.test_client()
        response = new_client.post(
            "/api/auth/register",
            json={"username": username, "email": f"{username}@example.org", "password": "correct horse"},
        )
        assert response.status_code == 201, response.json
        new_client.user = response.json["user"]
        return new_client

    return make


@pytest.fixture
def redis_client(app) -> redis.Redis:
    return app.extensions["redis"]


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen, log: Path) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    print(log.read_text(errors="replace")[-3000:])


@pytest.fixture(scope="session")
def celery_worker(app, test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real `celery worker` process (not eager) on the test broker."""
    # Tasks queued by earlier tests refer to rows that are gone; start from an empty queue.
    app.extensions["celery"].control.purge()
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    process = _start(
        [str(BIN / "celery"), "-A", "raindrop_server.worker:celery", "worker", "--pool=solo",
         "--without-gossip", "--without-mingle", "--loglevel=INFO"],
        test_env,
        log,
    )  # fmt: skip
    try:
        wait_until(lambda: process.poll() is not None or b" ready." in log.read_bytes(), "the celery worker")
        assert process.poll() is None, log.read_text()
        yield log
    finally:
        _stop(process, log)


@pytest.fixture(scope="session")
def live_server(test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gunicorn with the gevent WebSocket worker, as the deploy runs it; yields its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    process = _start(
        [str(BIN / "gunicorn"), "-k", GUNICORN_WORKER, "-w", "1", "-b", f"127.0.0.1:{port}",
         # gunicorn 27 otherwise shares one control socket (~/.gunicorn/gunicorn.ctl) with every other gunicorn.
         "--no-control-socket",
         "raindrop_server.wsgi:app"],
        test_env,
        log,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return requests.get(f"{base}/api/health", timeout=10).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_until(healthy, "gunicorn to answer /api/health", timeout=60)
        yield base
    finally:
        _stop(process, log)


@pytest.fixture
def png_bytes():
    """A real PNG made by Pillow: png_bytes(width, height)."""
    import io

    from PIL import Image

    def make(width: int = 8, height: int = 8, image_format: str = "PNG") -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format=image_format)
        return buffer.getvalue()

    return make
