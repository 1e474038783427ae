def _mention(author, times: int) -> None:
    for i in range(times):
        author.post("/api/posts", json={"body": f"@bob number {i}"})


def test_list_and_unread(make_client, client):
    alice, bob = make_client("alice"), make_client("bob")
    _mention(alice, 3)
    result = bob.get("/api/notifications").json
    assert result["unread"] == 3
    assert len(result["items"]) == 3
    assert all(n["read"] is False for n in result["items"])
    assert result["next_cursor"] is None
    assert client.get("/api/notifications").status_code == 401


def test_cursor_pagination(make_client):
    alice, bob = make_client("alice"), make_client("bob")
    _mention(alice, 5)
    first = bob.get("/api/notifications?limit=3").json
    second = bob.get(f"/api/notifications?limit=3&cursor={first['next_cursor']}").json
    ids = [n["id"] for n in first["items"] + second["items"]]
    assert len(ids) == 5
    assert ids == sorted(ids, reverse=True)
    assert second["next_cursor"] is None


def test_mark_some_then_all_read(make_client):
    alice, bob = make_client("alice"), make_client("bob")
    _mention(alice, 3)
    ids = [n["id"] for n in bob.get("/api/notifications").json["items"]]
    assert bob.post("/api/notifications/read", json={"ids": ids[:1]}).json == {"unread": 2}
    items = bob.get("/api/notifications").json["items"]
    assert [n["read"] for n in items] == [True, False, False]
    # Someone else's ids change nothing.
    assert alice.post("/api/notifications/read", json={"ids": ids}).json == {"unread": 0}
    assert bob.get("/api/notifications").json["unread"] == 2
    assert bob.post("/api/notifications/read").json == {"unread": 0}


def test_mark_read_validation(make_client, client):
    bob = make_client("bob")
    assert bob.post("/api/notifications/read", json={"ids": "all"}).json == {"msg": "ids must be a list of integers"}
    assert bob.post("/api/notifications/read", json={"ids": [1, "2"]}).status_code == 400
    assert client.post("/api/notifications/read").status_code == 401
