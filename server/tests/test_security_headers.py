"""Every response of the app carries the API's security headers: JSON, errors, uploads, static files."""

import io

import pytest
from raindrop_server import views
from raindrop_server.config import MAX_UPLOAD_BYTES

EXPECTED = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def security_headers(response) -> dict[str, list[str]]:
    """Every value of each security header, so that a header sent twice shows up too."""
    return {name: response.headers.getlist(name) for name in EXPECTED}


def assert_headers(response) -> None:
    assert security_headers(response) == {name: [value] for name, value in EXPECTED.items()}


def test_api_json_responses_carry_the_headers(client):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert_headers(response)


@pytest.mark.parametrize(("method", "path", "status"), [("get", "/api/does/not/exist", 404),
                                                        ("put", "/api/feed", 405),
                                                        ("get", "/api/feed", 401)])  # fmt: skip
def test_error_responses_carry_the_headers(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert_headers(response)


def test_an_unexpected_500_carries_the_headers(client, make_client, monkeypatch):
    post_id = make_client("alice").post("/api/posts", json={"body": "x"}).json["post"]["id"]

    def broken(ids):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "posts_json", broken)
    monkeypatch.setattr("raindrop_server.posts.posts_json", broken)
    response = client.get(f"/api/posts/{post_id}")
    assert response.status_code == 500
    assert_headers(response)


def test_uploads_and_a_413_carry_the_headers(make_client, png_bytes):
    alice = make_client("alice")
    stored = alice.post("/api/uploads", data={"file": (io.BytesIO(png_bytes()), "a.png")})
    assert stored.status_code == 201
    assert_headers(stored)
    too_large = alice.post("/api/uploads", data={"file": (io.BytesIO(b"\0" * (MAX_UPLOAD_BYTES * 2)), "a.png")})
    assert too_large.status_code == 413
    assert_headers(too_large)


def test_package_static_files_carry_the_headers(client):
    response = client.get("/static/robots.txt")
    assert response.status_code == 200
    assert_headers(response)
