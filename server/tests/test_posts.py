import io
from html.parser import HTMLParser

import pytest


def parse_tags(html: str) -> list[tuple[str, dict[str, str]]]:
    """Every element the browser would build from html, with its attributes."""
    found: list[tuple[str, dict[str, str]]] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, {name: value or "" for name, value in attrs}))

    Collector().feed(html)
    return found


def test_create_and_get_post(make_client, client):
    alice = make_client("alice")
    response = alice.post("/api/posts", json={"body": "Hello *world*"})
    assert response.status_code == 201
    post = response.json["post"]
    assert post["html"] == "<p>Hello <em>world</em></p>\n"
    assert post["author"] == {"id": alice.user["id"], "username": "alice", "display_name": "alice"}
    assert post["comment_count"] == 0
    assert post["image_url"] is None
    assert post["created_at"].endswith("Z")
    assert client.get(f"/api/posts/{post['id']}").json["post"] == post


def test_create_post_validation(make_client, client):
    alice = make_client("alice")
    assert client.post("/api/posts", json={"body": "hi"}).status_code == 401
    assert alice.post("/api/posts", json={}).json == {"msg": "body is required"}
    assert alice.post("/api/posts", json={"body": "   "}).json == {"msg": "body is empty"}
    assert alice.post("/api/posts", json={"body": "x" * 5001}).json == {"msg": "body must be at most 5000 characters"}
    bad_image = alice.post("/api/posts", json={"body": "hi", "image_url": "https://evil.example/x.png"})
    assert bad_image.status_code == 400
    assert bad_image.json == {"msg": "image_url must be a URL returned by /api/uploads"}
    traversal = alice.post("/api/posts", json={"body": "hi", "image_url": "/static/uploads/../../etc/passwd"})
    assert traversal.status_code == 400


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>alert(1)</script>",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)" onclick="alert(1)">x</a>',
        "![x](javascript:alert(1))",
        "<iframe src='https://evil.example'></iframe>",
        "<svg onload=alert(1)>",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    ],
)
def test_markdown_is_sanitised(make_client, markdown):
    html = make_client("alice").post("/api/posts", json={"body": markdown}).json["post"]["html"]
    tags = parse_tags(html)
    assert {name for name, _ in tags} <= {"p", "a", "img", "em", "strong", "code"}
    for _, attributes in tags:
        assert not any(name.startswith("on") for name in attributes), html
        for name in ("href", "src"):
            if name in attributes:
                assert attributes[name].split(":", 1)[0].lower() in {"http", "https", "mailto"}, html


def test_markdown_keeps_safe_formatting(make_client):
    html = (
        make_client("alice")
        .post("/api/posts", json={"body": "# Title\n\n- one\n- **two**\n\n[site](https://example.org)\n\n`code`"})
        .json["post"]["html"]
    )
    assert "<h1>Title</h1>" in html
    assert "<li><strong>two</strong></li>" in html
    assert '<a href="https://example.org" rel="nofollow noopener noreferrer">site</a>' in html
    assert "<code>code</code>" in html


def test_post_with_uploaded_image(make_client, png_bytes):
    alice = make_client("alice")
    url = alice.post("/api/uploads", data={"file": (io.BytesIO(png_bytes()), "a.png")}).json["url"]
    post = alice.post("/api/posts", json={"body": "look", "image_url": url}).json["post"]
    assert post["image_url"] == url


def test_post_may_carry_an_image_stored_on_oss(app, make_client, monkeypatch):
    monkeypatch.setitem(app.config, "OSS", {"endpoint": "oss-cn-hangzhou.aliyuncs.com", "bucket": "media"})
    alice = make_client("alice")
    url = "https://media.oss-cn-hangzhou.aliyuncs.com/uploads/0123abcd.png"
    assert alice.post("/api/posts", json={"body": "x", "image_url": url}).json["post"]["image_url"] == url
    other = alice.post(
        "/api/posts", json={"body": "x", "image_url": "https://media.oss-cn-hangzhou.aliyuncs.com/x.png"}
    )
    assert other.status_code == 400


def test_get_missing_post(client):
    assert client.get("/api/posts/999999").status_code == 404
    assert client.get("/api/posts/999999").json == {"msg": "post not found"}


def test_only_the_author_deletes(make_client, client):
    alice, bob = make_client("alice"), make_client("bob")
    post_id = alice.post("/api/posts", json={"body": "mine"}).json["post"]["id"]
    assert client.delete(f"/api/posts/{post_id}").status_code == 401
    forbidden = bob.delete(f"/api/posts/{post_id}")
    assert forbidden.status_code == 403
    assert forbidden.json == {"msg": "only the author can delete a post"}
    client.get(f"/api/posts/{post_id}")  # puts it in the cache
    deleted = alice.delete(f"/api/posts/{post_id}")
    assert deleted.status_code == 204
    assert deleted.data == b""
    assert client.get(f"/api/posts/{post_id}").status_code == 404
    assert alice.delete(f"/api/posts/{post_id}").status_code == 404


def test_comments(make_client, client):
    alice, bob = make_client("alice"), make_client("bob")
    post_id = alice.post("/api/posts", json={"body": "post"}).json["post"]["id"]
    client.get(f"/api/posts/{post_id}")  # cached with comment_count 0
    first = bob.post(f"/api/posts/{post_id}/comments", json={"body": "nice <b onclick=x>post</b>"})
    assert first.status_code == 201
    comment = first.json["comment"]
    assert comment["post_id"] == post_id
    assert comment["author"]["username"] == "bob"
    assert comment["html"] == "<p>nice &lt;b onclick=x&gt;post&lt;/b&gt;</p>\n"  # shown as text
    assert parse_tags(comment["html"]) == [("p", {})]
    alice.post(f"/api/posts/{post_id}/comments", json={"body": "thanks"})
    items = client.get(f"/api/posts/{post_id}/comments").json["items"]
    assert [c["body"] for c in items] == ["nice <b onclick=x>post</b>", "thanks"]
    assert client.get(f"/api/posts/{post_id}").json["post"]["comment_count"] == 2


def test_comment_errors(make_client, client):
    alice = make_client("alice")
    post_id = alice.post("/api/posts", json={"body": "post"}).json["post"]["id"]
    assert client.post(f"/api/posts/{post_id}/comments", json={"body": "x"}).status_code == 401
    assert alice.post(f"/api/posts/{post_id}/comments", json={"body": ""}).json == {"msg": "body is empty"}
    assert alice.post("/api/posts/999999/comments", json={"body": "x"}).status_code == 404
    assert client.get("/api/posts/999999/comments").status_code == 404


def test_mentions_notify_the_mentioned_users(make_client):
    alice, bob, carol = make_client("alice"), make_client("bob"), make_client("carol")
    post_id = alice.post("/api/posts", json={"body": "hi @bob and @BOB and @nobody and @alice"}).json["post"]["id"]
    bob_notes = bob.get("/api/notifications").json["items"]
    assert [(n["kind"], n["actor"]["username"], n["post_id"]) for n in bob_notes] == [("mention", "alice", post_id)]
    # Nobody is notified of their own mention.
    assert alice.get("/api/notifications").json["items"] == []

    carol.post(f"/api/posts/{post_id}/comments", json={"body": "@bob look"})
    kinds = [(n["kind"], n["actor"]["username"]) for n in bob.get("/api/notifications").json["items"]]
    assert kinds == [("mention", "carol"), ("mention", "alice")]
    # The post's author hears about the comment.
    assert [n["kind"] for n in alice.get("/api/notifications").json["items"]] == ["comment"]
    assert carol.get("/api/notifications").json["items"] == []
