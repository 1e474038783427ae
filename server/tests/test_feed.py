"""The home timeline: built from MySQL, kept in Redis, paginated by cursor, off with FEED_CACHE=0."""

import pytest
from raindrop_server import cache, timeline


def _post(client, body: str) -> int:
    return client.post("/api/posts", json={"body": body}).json["post"]["id"]


def _feed_ids(client, query: str = "") -> list[int]:
    return [p["id"] for p in client.get(f"/api/feed{query}").json["items"]]


def test_feed_holds_followed_and_own_posts_only(make_client, redis_client):
    alice, bob, carol = make_client("alice"), make_client("bob"), make_client("carol")
    alice.post("/api/users/bob/follow")
    bob_post = _post(bob, "from bob")
    _post(carol, "from carol")
    own = _post(alice, "from alice")
    # No worker runs here: the timeline is built from MySQL on this first read.
    assert _feed_ids(alice) == [own, bob_post]
    assert redis_client.exists(timeline.feed_key(alice.user["id"]))


def test_follow_and_unfollow_rebuild_the_timeline(make_client):
    alice, bob = make_client("alice"), make_client("bob")
    bob_post = _post(bob, "from bob")
    assert _feed_ids(alice) == []
    alice.post("/api/users/bob/follow")
    assert _feed_ids(alice) == [bob_post]
    alice.delete("/api/users/bob/follow")
    assert _feed_ids(alice) == []


def test_feed_pages_by_cursor(make_client):
    alice, bob = make_client("alice"), make_client("bob")
    alice.post("/api/users/bob/follow")
    ids = [_post(bob, f"post {i}") for i in range(7)][::-1]
    seen, cursor = [], None
    while True:
        page = alice.get("/api/feed?limit=3" + (f"&cursor={cursor}" if cursor else "")).json
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


def test_feed_validation(make_client, client):
    alice = make_client("alice")
    assert client.get("/api/feed").status_code == 401
    assert alice.get("/api/feed?limit=0").json == {"msg": "limit must be an integer from 1 to 50"}
    assert alice.get("/api/feed?limit=51").status_code == 400
    assert alice.get("/api/feed?cursor=bm9wZQ").json == {"msg": "cursor is invalid"}


def test_trimmed_timeline_continues_in_mysql(app, make_client, monkeypatch, redis_client):
    monkeypatch.setattr(timeline, "FEED_LENGTH", 3)
    alice, bob = make_client("alice"), make_client("bob")
    alice.post("/api/users/bob/follow")
    ids = [_post(bob, f"post {i}") for i in range(6)][::-1]
    assert _feed_ids(alice, "?limit=50") == ids
    key = timeline.feed_key(alice.user["id"])
    assert redis_client.zcard(key) == 3  # built with only the newest three
    newer = _post(bob, "newest")
    with app.app_context():
        assert timeline.push([alice.user["id"]], newer) == 1
    assert _feed_ids(alice, "?limit=50") == [newer, *ids]


def test_fan_out_skips_users_without_a_timeline(app, make_client, redis_client):
    alice, bob = make_client("alice"), make_client("bob")
    with app.app_context():
        assert timeline.push([alice.user["id"], bob.user["id"]], 12345) == 0
    assert not redis_client.exists(timeline.feed_key(alice.user["id"]))


def test_deleted_posts_drop_out_of_the_feed(make_client):
    alice, bob = make_client("alice"), make_client("bob")
    alice.post("/api/users/bob/follow")
    keep, gone = _post(bob, "keep"), _post(bob, "gone")
    assert _feed_ids(alice) == [gone, keep]
    bob.delete(f"/api/posts/{gone}")
    assert _feed_ids(alice) == [keep]


@pytest.mark.parametrize("feed_cache", [True, False])
def test_feed_cache_switch(app, make_client, monkeypatch, redis_client, feed_cache):
    monkeypatch.setitem(app.config, "FEED_CACHE", feed_cache)
    alice, bob = make_client("alice"), make_client("bob")
    alice.post("/api/users/bob/follow")
    post = _post(bob, "hello")
    assert _feed_ids(alice) == [post]
    assert alice.get(f"/api/posts/{post}").status_code == 200
    cached = {k for k in redis_client.scan_iter("rd:*") if not k.startswith("rd:rl:")}
    if feed_cache:
        assert {timeline.feed_key(alice.user["id"]), cache.post_key(post)} <= cached
    else:
        # RAINDROP_FEED_CACHE=0: reads go straight to MySQL and nothing is cached.
        assert cached == set()


def test_post_committed_while_a_timeline_is_built_is_not_lost(app, make_client, monkeypatch, redis_client):
    alice, bob = make_client("alice"), make_client("bob")
    alice.post("/api/users/bob/follow")
    first = _post(bob, "before")
    late_ids = []
    read_posts = timeline._mysql_ids

    def read_then_bob_posts(*args):
        ids = read_posts(*args)
        if not late_ids:
            # Bob's post lands after the timeline's MySQL read, and its fan-out finds no timeline yet.
            late_ids.append(_post(bob, "during the build"))
            assert timeline.push([alice.user["id"]], late_ids[0]) == 0
        return ids

    monkeypatch.setattr(timeline, "_mysql_ids", read_then_bob_posts)
    assert _feed_ids(alice) == [late_ids[0], first]
    assert redis_client.zscore(timeline.feed_key(alice.user["id"]), str(late_ids[0])) is not None
