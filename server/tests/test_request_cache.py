"""The cheap paths of issue 11: how many Redis calls a logged-in request makes, the per-request memo of cached
values, the per-process memo of session users, and the post cached as it is created."""

import orjson
import pytest
import sqlalchemy as sa
from raindrop_server import cache, timeline, views
from raindrop_server.extensions import KEY_PREFIX, db
from raindrop_server.models import User


@pytest.fixture
def redis_calls(app, monkeypatch):
    """Every command the app sends to Redis outside pipelines, as (command, first argument)."""
    client = app.extensions["redis"]
    calls: list[tuple[str, str]] = []
    send = client.execute_command

    def recording(*args, **options):
        calls.append((str(args[0]).upper(), str(args[1]) if len(args) > 1 else ""))
        return send(*args, **options)

    monkeypatch.setattr(client, "execute_command", recording)
    return calls


def test_a_warm_feed_page_is_one_script_call(app, make_client, redis_calls):
    alice, bob = make_client("alice"), make_client("bob")
    bob.post("/api/users/alice/follow")
    alice.post("/api/posts", json={"body": "one"})
    assert bob.get("/api/feed").status_code == 200  # builds the timeline, caches the profiles
    redis_calls.clear()
    assert bob.get("/api/feed").status_code == 200
    # The session check is answered by the process's memo; the page, its posts and their authors are one script.
    assert redis_calls == [("EVALSHA", app.extensions["timeline_page_script"].sha)]


def test_the_page_script_reads_the_cached_posts_and_reports_misses(app, make_client, redis_client):
    alice, bob, carol = make_client("alice"), make_client("bob"), make_client("carol")
    for name in ("alice", "bob"):
        carol.post(f"/api/users/{name}/follow")
    ids = [alice.post("/api/posts", json={"body": f"a{n}"}).json["post"]["id"] for n in range(2)]
    ids.append(bob.post("/api/posts", json={"body": "b"}).json["post"]["id"])
    first = carol.get("/api/feed").json  # builds the timeline; every post is cached now
    redis_client.delete(cache.post_key(ids[0]))  # one post evicted
    with app.test_request_context("/"):
        found = timeline.page(carol.user["id"], None, 10)
    assert list(found) == ids[::-1]
    assert found[ids[0]] is None
    # A cached post is the contract's post, its author inside: the page needs no profile.
    assert [orjson.loads(found[i]) for i in ids[:0:-1]] == first["items"][:2]
    # The evicted post is loaded from MySQL; the page is the same.
    assert carol.get("/api/feed").json == first


def test_creating_a_post_reads_its_author_once_and_caches_the_post(make_client, redis_client, redis_calls):
    alice = make_client("alice")
    alice.get("/api/auth/me")
    redis_calls.clear()
    response = alice.post("/api/posts", json={"body": "Hello *world*"})
    assert response.status_code == 201
    post = response.json["post"]
    # The author's profile once (the session check came from the memo); the post and its fan-out are pipelined
    # or published (a pipeline and Celery's own client are not recorded here).
    assert [call for call in redis_calls if call[0] in {"GET", "MGET"}] == [
        ("MGET", f"{KEY_PREFIX}user:{alice.user['id']}")
    ]
    assert orjson.loads(redis_client.get(cache.post_key(post["id"]))) == post


def test_renaming_an_author_refreshes_their_cached_posts(make_client, redis_client):
    alice, bob = make_client("alice"), make_client("bob")
    bob.post("/api/users/alice/follow")
    ids = [alice.post("/api/posts", json={"body": f"a{n}"}).json["post"]["id"] for n in range(2)]
    assert {p["author"]["display_name"] for p in bob.get("/api/feed").json["items"]} == {"alice"}
    assert alice.patch("/api/users/me", json={"bio": "only the bio"}).status_code == 200
    # A bio is not in a post: the cached posts stay.
    assert all(redis_client.exists(cache.post_key(i)) for i in ids)
    assert alice.patch("/api/users/me", json={"display_name": "Alice A."}).status_code == 200
    assert not any(redis_client.exists(cache.post_key(i)) for i in ids)
    feed = bob.get("/api/feed").json["items"]
    assert [p["id"] for p in feed] == ids[::-1]
    assert {p["author"]["display_name"] for p in feed} == {"Alice A."}
    assert bob.get(f"/api/posts/{ids[0]}").json["post"]["author"]["display_name"] == "Alice A."


def test_a_profile_changed_in_a_request_is_answered_fresh_by_that_request(make_client):
    alice = make_client("alice")
    alice.get("/api/auth/me")  # the profile is cached and in this request's memo
    response = alice.patch("/api/users/me", json={"display_name": "Alice A."})
    assert response.status_code == 200, response.json
    assert response.json["user"]["display_name"] == "Alice A."
    assert alice.get("/api/users/alice").json["user"]["display_name"] == "Alice A."


def test_the_memo_does_not_outlive_its_request(app, make_client, client):
    alice = make_client("alice")
    assert client.get("/api/users/alice").json["user"]["display_name"] == "alice"
    with app.app_context():
        db.session.execute(sa.update(User).where(User.id == alice.user["id"]).values(display_name="renamed"))
        db.session.commit()
        cache.invalidate([cache.user_key(alice.user["id"])])
    assert client.get("/api/users/alice").json["user"]["display_name"] == "renamed"


def test_a_removed_user_is_refused_once_the_process_memo_expires(app, make_client, monkeypatch):
    alice = make_client("alice")
    assert alice.get("/api/auth/me").status_code == 200
    with app.app_context():
        db.session.execute(sa.delete(User).where(User.id == alice.user["id"]))
        db.session.commit()
        cache.invalidate([cache.user_key(alice.user["id"])])
    # Within KNOWN_USER_SECONDS this process may still take the session (the documented bound); after it, never.
    later = views.time.monotonic() + views.KNOWN_USER_SECONDS + 1
    monkeypatch.setattr(views.time, "monotonic", lambda: later)
    assert alice.get("/api/auth/me").status_code == 401


def test_an_invalidated_key_leaves_the_request_memo(app, make_client):
    alice = make_client("alice")
    user_id = alice.user["id"]
    with app.test_request_context("/"):
        assert views.profiles([user_id])[user_id]["display_name"] == "alice"  # cached, and memoized
        db.session.execute(sa.update(User).where(User.id == user_id).values(display_name="renamed"))
        db.session.commit()
        assert views.profiles([user_id])[user_id]["display_name"] == "alice"  # the memo answers, no round trip
        cache.invalidate([cache.user_key(user_id)])
        assert views.profiles([user_id])[user_id]["display_name"] == "renamed"
