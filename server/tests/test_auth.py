import sqlalchemy as sa
from raindrop_server.extensions import db
from raindrop_server.models import User

GOOD = {"username": "alice", "email": "alice@example.org", "password": "correct horse"}


def test_register_logs_in_and_sets_a_safe_cookie(client):
    response = client.post("/api/auth/register", json=GOOD)
    assert response.status_code == 201
    user = response.json["user"]
    assert user["username"] == "alice"
    assert user == {
        "id": user["id"], "username": "alice", "display_name": "alice", "bio": "",
        "followers": 0, "following": 0, "is_following": False,
    }  # fmt: skip
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # RAINDROP_COOKIE_SECURE is 0 in tests
    assert client.get("/api/auth/me").json["user"]["id"] == user["id"]


def test_password_is_stored_as_an_argon2_hash(app, client):
    client.post("/api/auth/register", json=GOOD)
    with app.app_context():
        stored = db.session.scalar(sa.select(User.password_hash).where(User.username == "alice"))
    assert stored.startswith("$argon2id$")
    assert GOOD["password"] not in stored


def test_register_validation_errors(client):
    cases = [
        ({k: v for k, v in GOOD.items() if k != "email"}, "email is required"),
        ({**GOOD, "username": "a b"}, "username must be 3-30 letters, digits or underscores"),
        ({**GOOD, "username": "ab"}, "username must be 3-30"),
        ({**GOOD, "email": "not-an-address"}, "email is not a valid address"),
        ({**GOOD, "password": "short"}, "password must be at least 8 characters"),
        ({**GOOD, "password": 12345678}, "password must be a string"),
    ]
    for body, message in cases:
        response = client.post("/api/auth/register", json=body)
        assert response.status_code == 400, body
        assert response.json["msg"].startswith(message)


def test_register_needs_a_json_object(client):
    response = client.post("/api/auth/register", data="username=alice")
    assert response.status_code == 400
    assert "JSON" in response.json["msg"]
    response = client.post("/api/auth/register", json=["alice"])
    assert response.json == {"msg": "request body must be a JSON object"}


def test_duplicate_username_or_email_conflicts(client, app):
    assert client.post("/api/auth/register", json=GOOD).status_code == 201
    other = app.test_client()
    response = other.post("/api/auth/register", json={**GOOD, "username": "ALICE", "email": "x@example.org"})
    assert response.status_code == 409
    assert response.json["msg"] == "username already taken"
    response = other.post("/api/auth/register", json={**GOOD, "username": "alice2"})
    assert response.status_code == 409
    assert response.json["msg"] == "email already registered"


def test_login_logout_and_me(client, app):
    client.post("/api/auth/register", json=GOOD)
    assert client.post("/api/auth/logout").json == {"msg": "logged out"}
    assert client.get("/api/auth/me").status_code == 401
    assert client.get("/api/auth/me").json == {"msg": "login required"}

    wrong = client.post("/api/auth/login", json={"username": "alice", "password": "wrong password"})
    assert wrong.status_code == 401
    assert wrong.json == {"msg": "wrong username or password"}
    unknown = client.post("/api/auth/login", json={"username": "nobody", "password": "whatever1"})
    assert unknown.status_code == 401

    response = client.post("/api/auth/login", json={"username": "alice", "password": GOOD["password"]})
    assert response.status_code == 200
    assert response.json["user"]["username"] == "alice"
    assert client.get("/api/auth/me").status_code == 200
    by_email = app.test_client().post("/api/auth/login", json={"username": GOOD["email"], "password": GOOD["password"]})
    assert by_email.status_code == 200


def test_login_requires_fields(client):
    response = client.post("/api/auth/login", json={"username": "alice"})
    assert response.status_code == 400
    assert response.json == {"msg": "password is required"}


def test_login_is_rate_limited_through_redis(client, redis_client):
    # RAINDROP_AUTH_RATE is 10/60 in the tests.
    statuses = [
        client.post("/api/auth/login", json={"username": "alice", "password": "guess1234"}).status_code
        for _ in range(11)
    ]
    assert statuses == [401] * 10 + [429]
    limited = client.post("/api/auth/login", json={"username": "alice", "password": "guess1234"})
    assert limited.status_code == 429
    assert limited.json["msg"].startswith("too many login attempts, try again in ")
    assert int(limited.headers["Retry-After"]) > 0
    assert any(key.startswith("rd:rl:login:") for key in redis_client.scan_iter("rd:rl:*"))


def test_register_is_rate_limited(client):
    statuses = [
        client.post("/api/auth/register", json={**GOOD, "username": f"user{i}", "email": "bad"}).status_code
        for i in range(11)
    ]
    assert statuses == [400] * 10 + [429]


def test_rate_limit_counts_each_client_behind_the_proxy(client):
    def attempt(address: str) -> int:
        return client.post(
            "/api/auth/login",
            json={"username": "alice", "password": "guess1234"},
            headers={"X-Forwarded-For": address},
        ).status_code

    assert [attempt("203.0.113.1") for _ in range(11)][-1] == 429
    assert attempt("203.0.113.2") == 401
