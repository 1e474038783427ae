"""Redis down: reads come from MySQL with the same answers, rate limits fail open with a log line, posts are
kept, and /api/health still says 503 with Redis named.

The app under test runs in a separate process whose Redis (cache, rate limits, timelines, Socket.IO queue) and
Celery broker point at a port where nothing listens, as after a kill of redis-server; this process's own app
keeps the live Redis, and its Celery and Socket.IO globals stay untouched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

from conftest import free_port
from raindrop_server.extensions import REDIS_POOL_SIZE, redis_health

# Runs in the Redis-less process: reads stdin's plan, prints [[status, json], ...] as one line.
_SCENARIO = """
import json, sys
from raindrop_server import create_app
plan = json.load(sys.stdin)
client = create_app().test_client()
client.set_cookie(plan["cookie_name"], plan["cookie"])
out = [[r.status_code, r.json] for r in (client.get(path) for path in plan["reads"])]
other = create_app().test_client()
login = other.post("/api/auth/login", json={"username": "alice", "password": "correct horse"})
out.append([login.status_code, login.json])
created = other.post("/api/posts", json={"body": "written while redis is down"})
out.append([created.status_code, created.json])
reread = other.get("/api/posts/%d" % created.json["post"]["id"])
out.append([reread.status_code, reread.json])
health = client.get("/api/health")
out.append([health.status_code, health.json])
print("RESULT " + json.dumps(out))
"""


def _reads(alice_post: int) -> list[str]:
    return [
        "/api/feed",
        "/api/feed?limit=1",
        "/api/users/alice",
        "/api/users/bob",
        "/api/users/alice/posts",
        f"/api/posts/{alice_post}",
        f"/api/posts/{alice_post}/comments",
        "/api/auth/me",
        "/api/users?q=al",
    ]


def test_reads_fall_back_to_mysql_and_writes_are_kept_when_redis_is_down(app, make_client, test_env):
    alice, bob = make_client("alice"), make_client("bob")
    bob.post("/api/users/alice/follow")
    first = alice.post("/api/posts", json={"body": "hello @bob"}).json["post"]["id"]
    second = alice.post("/api/posts", json={"body": "*second*"}).json["post"]["id"]
    bob.post(f"/api/posts/{first}/comments", json={"body": "nice"})
    reads = _reads(first)
    # With Redis up, these reads also fill the caches and bob's timeline: the outage finds them populated.
    expected = [[r.status_code, r.json] for r in (bob.get(path) for path in reads)]
    assert [status for status, _ in expected] == [200] * len(reads)
    assert [p["id"] for p in expected[0][1]["items"]] == [second, first]

    dead = f"redis://127.0.0.1:{free_port()}/0"
    env = {**test_env, "RAINDROP_REDIS_URL": dead, "RAINDROP_BROKER_URL": dead}
    plan = {"cookie_name": "raindrop_session", "cookie": bob.get_cookie("raindrop_session").value, "reads": reads}
    result = subprocess.run(
        [sys.executable, "-c", _SCENARIO], input=json.dumps(plan), env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    *outage_reads, login, created, reread, health = json.loads(line.removeprefix("RESULT "))

    # Every read answers exactly as it did from the cache.
    assert outage_reads == expected
    # Logging in still works: the rate limit is not enforced, and says so.
    assert login == [200, {"user": {**alice.user, "followers": 1, "following": 0, "is_following": False}}]
    assert "login rate limit not enforced" in result.stderr and "(fail open)" in result.stderr
    # A post is acknowledged, kept, and readable; its fan-out waits for the broker (logged).
    status, body = created
    post = body["post"]
    assert status == 201
    assert post == {
        "id": post["id"],
        "author": {"id": alice.user["id"], "username": "alice", "display_name": "alice"},
        "body": "written while redis is down",
        "html": "<p>written while redis is down</p>\n",
        "image_url": None,
        "created_at": post["created_at"],
        "comment_count": 0,
    }
    assert reread == [200, {"post": post}]
    assert "broker unavailable" in result.stderr
    # Health still tells the truth: Redis and the broker are down, so 503.
    port = dead.rsplit(":", 1)[1].split("/")[0]
    refused = f"Error 111 connecting to 127.0.0.1:{port}. Connection refused."
    assert health[0] == 503
    assert health[1] == {"db": "ok", "redis": f"ConnectionError: {refused}", "broker": health[1]["broker"]}
    assert health[1]["broker"] != "ok"

    # Back on the live Redis, the post written during the outage is there too (the feed's MySQL fallback
    # covered it; the timeline built before the outage lacks it until it is rebuilt or fanned out).
    assert bob.get(f"/api/posts/{post['id']}").json == {"post": post}


def test_a_burst_beyond_the_redis_pool_waits_for_a_connection_instead_of_failing_over(app, redis_client):
    """More requests at once than the pool holds is load, not an outage: the next one waits for a free connection
    (redis-py's default pool would raise MaxConnectionsError, which the fallback would take for Redis down)."""
    pool = redis_client.connection_pool
    held = [pool.get_connection() for _ in range(REDIS_POOL_SIZE)]
    answers: list[object] = []
    waiting = threading.Thread(target=lambda: answers.append(redis_client.ping()))
    try:
        waiting.start()
        waiting.join(timeout=0.5)  # it cannot get a connection yet: every one is held
        assert answers == []
    finally:
        for connection in held:
            pool.release(connection)
    waiting.join()
    assert answers == [True]
    with app.app_context():
        assert redis_health().up()
