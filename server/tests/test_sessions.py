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


@pytest.fixture
def verifications(app, monkeypatch):
    """How many times the app's serializer has verified a cookie."""
    serializer = app.session_interface.get_signing_serializer(app)
    calls = []
    real = serializer.loads
    monkeypatch.setattr(serializer, "loads", lambda *a, **kw: calls.append(a[0]) or real(*a, **kw))
    return calls


def _cookie(app, client) -> str:
    return client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value


def test_a_cookie_is_verified_once_and_then_answered_from_what_it_verified_to(app, client, verifications):
    user_id = client.post("/api/auth/register", json=GOOD).json["user"]["id"]
    verifications.clear()
    for _ in range(3):
        assert client.get("/api/auth/me").json["user"]["id"] == user_id
    assert verifications == [_cookie(app, client)]


def test_a_tampered_cookie_is_refused_every_time(app, client, verifications):
    client.post("/api/auth/register", json=GOOD)
    good = _cookie(app, client)
    payload, _, signature = good.rpartition(".")
    bad = f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], bad)
    verifications.clear()
    assert [client.get("/api/auth/me").status_code for _ in range(2)] == [401, 401]
    assert verifications == [bad, bad]


def test_a_remembered_cookie_still_expires_with_the_session_lifetime(app, client, monkeypatch):
    client.post("/api/auth/register", json=GOOD)
    assert client.get("/api/auth/me").status_code == 200  # verified, and remembered
    # The clock (time.time, which itsdangerous reads too) moves past the lifetime: the remembered answer is not used.
    later = sessions.time.time() + app.permanent_session_lifetime.total_seconds() + 1
    monkeypatch.setattr(sessions.time, "time", lambda: later)
    assert client.get("/api/auth/me").status_code == 401


def test_a_new_secret_key_refuses_cookies_verified_with_the_old_one(app, client):
    client.post("/api/auth/register", json=GOOD)
    assert client.get("/api/auth/me").status_code == 200
    app.secret_key = "a-rotated-secret-key-that-is-long-enough"
    assert client.get("/api/auth/me").status_code == 401
