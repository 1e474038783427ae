def test_profile_view_and_404(client, make_client):
    make_client("alice")
    response = client.get("/api/users/alice")
    assert response.status_code == 200
    assert response.json["user"]["username"] == "alice"
    missing = client.get("/api/users/nobody")
    assert missing.status_code == 404
    assert missing.json == {"msg": "user not found"}


def test_edit_profile(make_client, client):
    alice = make_client("alice")
    response = alice.patch("/api/users/me", json={"display_name": "Alice A.", "bio": "hello"})
    assert response.status_code == 200
    assert response.json["user"]["display_name"] == "Alice A."
    # The cached profile was invalidated: a fresh read sees the edit.
    assert client.get("/api/users/alice").json["user"]["bio"] == "hello"


def test_edit_profile_validation(make_client, client):
    alice = make_client("alice")
    assert alice.patch("/api/users/me", json={"bio": "x" * 501}).json == {"msg": "bio must be at most 500 characters"}
    assert alice.patch("/api/users/me", json={"display_name": 5}).json == {"msg": "display_name must be a string"}
    assert alice.patch("/api/users/me", json={"email": "x@y.z"}).json == {"msg": "unknown fields: email"}
    assert client.patch("/api/users/me", json={"bio": "x"}).status_code == 401


def test_search_by_prefix_for_mentions(make_client, client):
    for name in ("bob", "bobby", "bo_x", "carol"):
        make_client(name)
    names = [u["username"] for u in client.get("/api/users?q=bo").json["items"]]
    assert names == ["bo_x", "bob", "bobby"]
    # "_" is a literal, not a LIKE wildcard.
    assert [u["username"] for u in client.get("/api/users?q=bo_").json["items"]] == ["bo_x"]
    assert client.get("/api/users?q=@car").json["items"] == [client.get("/api/users/carol").json["user"]]
    assert client.get("/api/users?q=").json == {"msg": "q is required"}


def test_search_says_whom_the_viewer_follows(make_client):
    alice = make_client("alice")
    make_client("bob1")
    make_client("bob2")
    alice.post("/api/users/bob2/follow")
    found = {u["username"]: u["is_following"] for u in alice.get("/api/users?q=bob").json["items"]}
    assert found == {"bob1": False, "bob2": True}


def test_search_returns_at_most_ten(app, make_client, client, redis_client):
    for i in range(12):
        make_client(f"user{i:02d}")
        redis_client.delete(*redis_client.keys("rd:rl:*"))  # registration rate limit
    assert len(client.get("/api/users?q=user").json["items"]) == 10


def test_follow_and_unfollow(make_client):
    alice, bob = make_client("alice"), make_client("bob")
    response = alice.post("/api/users/bob/follow")
    assert response.status_code == 200
    assert response.json["user"]["followers"] == 1
    assert response.json["user"]["is_following"] is True
    assert alice.post("/api/users/bob/follow").json["user"]["followers"] == 1  # idempotent
    assert alice.get("/api/auth/me").json["user"]["following"] == 1
    assert bob.get("/api/users/alice").json["user"]["is_following"] is False

    response = alice.delete("/api/users/bob/follow")
    assert response.status_code == 200
    assert response.json["user"]["followers"] == 0
    assert response.json["user"]["is_following"] is False


def test_follow_errors(make_client, client):
    alice = make_client("alice")
    assert alice.post("/api/users/alice/follow").json == {"msg": "you cannot follow yourself"}
    assert alice.post("/api/users/nobody/follow").status_code == 404
    assert client.post("/api/users/alice/follow").status_code == 401


def test_follow_notifies(make_client):
    alice, bob = make_client("alice"), make_client("bob")
    alice.post("/api/users/bob/follow")
    notes = bob.get("/api/notifications").json
    assert notes["unread"] == 1
    assert notes["items"][0]["kind"] == "follow"
    assert notes["items"][0]["actor"]["username"] == "alice"
    assert notes["items"][0]["post_id"] is None


def test_user_posts_paginate_by_cursor(make_client, client):
    alice = make_client("alice")
    ids = [alice.post("/api/posts", json={"body": f"post {i}"}).json["post"]["id"] for i in range(5)]
    first = client.get("/api/users/alice/posts?limit=2").json
    assert [p["id"] for p in first["items"]] == ids[::-1][:2]
    second = client.get(f"/api/users/alice/posts?limit=2&cursor={first['next_cursor']}").json
    assert [p["id"] for p in second["items"]] == ids[::-1][2:4]
    third = client.get(f"/api/users/alice/posts?limit=2&cursor={second['next_cursor']}").json
    assert [p["id"] for p in third["items"]] == ids[:1]
    assert third["next_cursor"] is None
    assert client.get("/api/users/alice/posts?cursor=garbage!").json == {"msg": "cursor is invalid"}
    assert client.get("/api/users/nobody/posts").status_code == 404
