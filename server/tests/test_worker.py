"""Fan-out through a real `celery worker` process on the Redis broker (not eager mode)."""

import re
import threading

from celery.backends.base import DisabledBackend
from conftest import wait_until
from raindrop_server import presence, tasks, timeline


def test_new_post_reaches_timelines_through_the_worker(celery_worker, make_client, redis_client):
    alice, bob, carol = make_client("alice"), make_client("bob"), make_client("carol")
    alice.post("/api/users/bob/follow")
    carol.post("/api/users/bob/follow")
    assert alice.get("/api/feed").json["items"] == []  # alice has a timeline in Redis now; carol has none
    alice_key = timeline.feed_key(alice.user["id"])

    post_id = bob.post("/api/posts", json={"body": "fan me out"}).json["post"]["id"]
    wait_until(lambda: redis_client.zscore(alice_key, str(post_id)) is not None, "the worker's fan-out")
    assert [p["id"] for p in alice.get("/api/feed").json["items"]] == [post_id]
    # Fan-out never starts a timeline: carol's is built from MySQL when she first reads.
    assert not redis_client.exists(timeline.feed_key(carol.user["id"]))
    assert [p["id"] for p in carol.get("/api/feed").json["items"]] == [post_id]

    bob.delete(f"/api/posts/{post_id}")
    wait_until(lambda: redis_client.zscore(alice_key, str(post_id)) is None, "the worker to remove the post")
    assert "raindrop_server.tasks.fan_out_post" in celery_worker.read_text()


def test_fan_out_is_idempotent(celery_worker, app, make_client, redis_client):
    alice, bob = make_client("alice"), make_client("bob")
    alice.post("/api/users/bob/follow")
    alice.get("/api/feed")
    post_id = bob.post("/api/posts", json={"body": "twice"}).json["post"]["id"]
    key = timeline.feed_key(alice.user["id"])
    wait_until(lambda: redis_client.zscore(key, str(post_id)) is not None, "the worker's fan-out")
    size = redis_client.zcard(key)
    # A redelivered message (acks_late after a worker crash) runs the task again.
    result = app.extensions["celery"].send_task("raindrop_server.tasks.fan_out_post", args=[post_id])
    assert result.id
    again = bob.post("/api/posts", json={"body": "marker"}).json["post"]["id"]
    wait_until(lambda: redis_client.zscore(key, str(again)) is not None, "the next fan-out")
    assert redis_client.zcard(key) == size + 1
    assert [p["id"] for p in alice.get("/api/feed").json["items"]] == [again, post_id]


def test_web_process_shares_one_result_backend_across_greenlets(app):
    """No results are kept, so Celery's DisabledBackend has no state: one object serves every request instead of
    one built per thread, which under gevent's patching is per greenlet (Celery's default for a backend not
    marked thread-safe). Real threads here: the tests run unpatched."""
    celery_app = app.extensions["celery"]
    first = celery_app.backend
    backends = []
    threads = [threading.Thread(target=lambda: backends.append(celery_app.backend)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(backends) == 3 and all(type(backend) is DisabledBackend for backend in backends)
    assert all(backend is first for backend in backends)


def test_fan_out_tells_those_online_before_it_fills_the_timelines(app, make_client, monkeypatch):
    """The event carries the post, so live clients should not wait for thousands of timeline writes."""
    alice, bob = make_client("alice"), make_client("bob")
    alice.post("/api/users/bob/follow")
    post_id = bob.post("/api/posts", json={"body": "first to the live ones"}).json["post"]["id"]
    phases = []
    monkeypatch.setattr(tasks.socketio, "emit", lambda event, data, to: phases.append(("emit", event, data["id"], to)))
    monkeypatch.setattr(tasks.timeline, "push", lambda users, post: phases.append(("push", users, post)))
    with app.app_context():
        presence.connected(alice.user["id"])
        assert tasks.fan_out_post.run(post_id) == 2
    assert phases == [
        ("emit", "feed:new", post_id, [presence.room(alice.user["id"])]),
        ("push", [bob.user["id"], alice.user["id"]], post_id),
    ]


def test_worker_freezes_the_loaded_app_out_of_the_collector(celery_worker):
    """A full collection would otherwise walk the whole loaded app (tens of thousands of objects, never garbage)
    and pause the fan-outs meanwhile; the worker freezes them once it is ready, and says how many."""
    frozen = re.findall(r"raindrop: the worker froze (\d+) objects of the loaded app", celery_worker.read_text())
    assert len(frozen) == 1 and int(frozen[0]) > 10_000, frozen
