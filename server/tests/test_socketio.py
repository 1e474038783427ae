"""Live delivery: the real python-socketio client against gunicorn (gevent WebSocket worker), with the
Celery worker emitting through the Redis message queue."""

import queue

import pytest
import requests
import socketio
import websocket
from conftest import wait_until


def _register(base: str, username: str) -> requests.Session:
    session = requests.Session()
    response = session.post(
        f"{base}/api/auth/register",
        json={"username": username, "email": f"{username}@example.org", "password": "correct horse"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return session


def _connect(base: str, session: requests.Session) -> tuple[socketio.Client, queue.Queue]:
    events: queue.Queue = queue.Queue()
    client = socketio.Client(reconnection=False)
    client.on("notification", lambda data: events.put(("notification", data)))
    client.on("feed:new", lambda data: events.put(("feed:new", data)))
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    client.connect(base, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=10)
    return client, events


def _next_event(events: queue.Queue, name: str) -> dict:
    while True:
        try:
            event, data = events.get(timeout=60)
        except queue.Empty:
            pytest.fail(f"no {name} event arrived")
        if event == name:
            return data


def test_notification_and_feed_are_pushed_live(app, live_server, celery_worker, redis_client):
    alice, bob = _register(live_server, "alice"), _register(live_server, "bob")
    assert bob.post(f"{live_server}/api/users/alice/follow", timeout=10).status_code == 200
    client, events = _connect(live_server, bob)
    try:
        assert client.transport() == "websocket"
        bob_id = bob.get(f"{live_server}/api/auth/me", timeout=10).json()["user"]["id"]
        wait_until(lambda: redis_client.hget("rd:online", str(bob_id)) == "1", "bob to be marked online")

        post = alice.post(f"{live_server}/api/posts", json={"body": "hello @bob"}, timeout=10).json()["post"]
        note = _next_event(events, "notification")
        assert note["kind"] == "mention"
        assert note["post_id"] == post["id"]
        assert note["actor"]["username"] == "alice"
        pushed = _next_event(events, "feed:new")
        assert pushed["id"] == post["id"]
        assert pushed["html"] == post["html"]
    finally:
        client.disconnect()
    wait_until(lambda: redis_client.hget("rd:online", str(bob_id)) is None, "bob to be marked offline")


def test_anonymous_connection_is_refused(app, live_server):
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(live_server, transports=["websocket"], wait_timeout=10)


def test_cross_site_origins_are_refused_behind_the_proxy(app, live_server):
    session = _register(live_server, "carol")
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    host = live_server.removeprefix("http://")

    def first_frame(origin: str) -> str | None:
        """What the server sends first on a WebSocket opened from a page of `origin`: the Engine.IO open packet,
        or nothing (None) when it closes the socket instead."""
        # nginx terminates https and says so in X-Forwarded-Proto.
        ws = websocket.create_connection(
            f"ws://{host}/socket.io/?EIO=4&transport=websocket",
            origin=origin,
            cookie=cookie,
            header={"X-Forwarded-Proto": "https"},
            timeout=10,
        )
        try:
            return ws.recv() or None
        except websocket.WebSocketConnectionClosedException:
            return None
        finally:
            ws.close()

    # The page's own origin is accepted; another site's page cannot open a socket with the user's cookie.
    assert first_frame(f"https://{host}").startswith('0{"sid":')
    assert first_frame("https://evil.example") is None


def test_long_polling_is_refused_with_a_clear_error(app, live_server):
    """WebSocket only: a long-polling session would need stickiness between the gunicorn processes."""
    session = _register(live_server, "dave")
    response = session.get(f"{live_server}/socket.io/?EIO=4&transport=polling", timeout=10)
    assert (response.status_code, response.headers["Content-Type"], response.text) == (
        400,
        "text/plain",
        '"Invalid transport"',
    )
    with pytest.raises(socketio.exceptions.ConnectionError):
        socketio.Client(reconnection=False).connect(
            live_server, headers={"Cookie": session.headers.get("Cookie", "")}, transports=["polling"], wait_timeout=10
        )
