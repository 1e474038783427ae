"""The session cookie is re-signed when the session changes or its signing is an hour old, not on every response."""

from datetime import datetime

import pytest
from raindrop_server import sessions

GOOD = {"username": "alice", "email": "alice@example.org", "password": "correct horse"}


def _attributes(set_cookie: str) -> dict[str, str]:
    return dict(part.strip().partition("=")[::2] for part in set_cookie.split(";"))


def _expires(set_cookie: str) -> datetime:
    return datetime.strptime(_attributes(set_cookie)["Expires"], "%a, %d %b %Y %H:%M:%S GMT")


def _session_in(app, set_cookie: str) -> dict:
    value = _attributes(set_cookie)[app.config["SESSION_COOKIE_NAME"]]
    return app.session_interface.get_signing_serializer(app).loads(value)


@pytest.fixture
def clock(monkeypatch):
    now = {"t": 1_800_000_000.0}
    monkeypatch.setattr(sessions.time, "time", lambda: now["t"])
    return now


def test_the_cookie_is_signed_at_login_then_again_only_after_an_hour(app, client, clock):
    login = client.post("/api/auth/register", json=GOOD)
    assert login.status_code == 201
    user_id = login.json["user"]["id"]
    signed_at_login = int(clock["t"])
    assert _session_in(app, login.headers["Set-Cookie"]) == {
        "_permanent": True, "_signed_at": signed_at_login, "user_id": user_id,
    }  # fmt: skip

    clock["t"] += sessions.REFRESH_SECONDS - 1
    within = client.get("/api/feed")
    assert within.status_code == 200
    assert "Set-Cookie" not in within.headers
    # The page depends on the cookie, so caches must still key on it.
    assert within.headers["Vary"] == "Cookie"

    clock["t"] += 1
    later = client.get("/api/feed")
    assert later.status_code == 200
    # Re-signed, so the browser's expiry moves on (Flask sets it 31 days from now), and it still logs in.
    assert _session_in(app, later.headers["Set-Cookie"]) == {
        "_permanent": True, "_signed_at": signed_at_login + sessions.REFRESH_SECONDS, "user_id": user_id,
    }  # fmt: skip
    assert client.get("/api/auth/me").json["user"]["username"] == "alice"
    assert "Set-Cookie" not in client.get("/api/auth/me").headers


def test_logout_still_removes_the_cookie_at_once(client, clock):
    client.post("/api/auth/register", json=GOOD)
    logout = client.post("/api/auth/logout")
    assert logout.status_code == 200
    assert _expires(logout.headers["Set-Cookie"]) < datetime(1971, 1, 1)
    assert client.get("/api/auth/me").status_code == 401


def test_a_request_without_a_session_sets_no_cookie(client, clock):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
