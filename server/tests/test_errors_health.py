import json
import subprocess
import sys

from raindrop_server import views


def test_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/does/not/exist")
    assert response.status_code == 404
    assert response.content_type == "application/json"
    assert response.json == {"msg": "not found"}


def test_wrong_method_is_a_json_405(client):
    response = client.put("/api/feed")
    assert response.status_code == 405
    assert response.json == {"msg": "method not allowed"}
    assert "GET" in response.headers["Allow"]


def test_unexpected_error_is_a_json_500_without_traceback(client, make_client, monkeypatch):
    post_id = make_client("alice").post("/api/posts", json={"body": "x"}).json["post"]["id"]

    def broken(ids):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views, "posts_json", broken)
    monkeypatch.setattr("raindrop_server.posts.posts_json", broken)
    response = client.get(f"/api/posts/{post_id}")
    assert response.status_code == 500
    assert response.json == {"msg": "internal server error"}
    assert b"secret" not in response.data
    assert b"Traceback" not in response.data


def test_health_reports_every_dependency(client):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json == {"db": "ok", "redis": "ok", "broker": "ok"}


def test_health_is_503_when_redis_and_broker_are_down(test_env):
    # A separate process, so the Celery and Socket.IO globals of the test app stay untouched.
    env = {**test_env, "RAINDROP_REDIS_URL": "redis://127.0.0.1:1/0", "RAINDROP_BROKER_URL": "redis://127.0.0.1:1/0"}
    script = (
        "import json; from raindrop_server import create_app; "
        "r = create_app().test_client().get('/api/health'); print(json.dumps([r.status_code, r.json]))"
    )
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    status, body = json.loads(result.stdout.strip().splitlines()[-1])
    assert status == 503
    assert body["db"] == "ok"
    assert body["redis"].startswith("ConnectionError")
    assert body["broker"] != "ok"


def test_package_static_files_are_served(client):
    response = client.get("/static/robots.txt")
    assert response.status_code == 200
    assert b"Disallow: /api/" in response.data


def test_a_post_is_created_even_when_the_broker_is_down(test_env):
    """The post is committed before its fan-out is queued: a broker outage must not answer 500 (a client retry
    would then duplicate the post). The feed's MySQL fallback serves it meanwhile."""
    env = {**test_env, "RAINDROP_BROKER_URL": "redis://127.0.0.1:1/0"}
    script = (
        "import json; from raindrop_server import create_app; c = create_app().test_client(); "
        "c.post('/api/auth/register', json={'username': 'brokerless', 'email': 'b@example.com', "
        "'password': 'correct horse battery'}); "
        "r = c.post('/api/posts', json={'body': 'still here'}); "
        "g = c.get('/api/posts/%d' % r.json['post']['id']); "
        "print(json.dumps([r.status_code, g.status_code, g.json['post']['body']]))"
    )
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [201, 200, "still here"]
    assert "broker unavailable" in result.stderr
