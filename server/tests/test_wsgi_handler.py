"""The joined-writes handler against gevent's own, on a real gevent WSGI server over loopback: the same bytes on
the wire, in one write where the body is small, and as gevent sends them otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import gevent.pywsgi
import gevent.socket
import pytest
from geventwebsocket.handler import WebSocketHandler
from raindrop_server.wsgi_handler import JOIN_LIMIT, joining_writes

SMALL = b'{"posts": []}'
LARGE = b"x" * (JOIN_LIMIT + 1)


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/empty":
        start_response("204 No Content", [])
        return [b""]
    if path == "/chunked":  # no Content-Length: HTTP/1.1 gets chunked framing from gevent
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"first", b"second"])
    body = LARGE if path == "/large" else SMALL
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def writes(monkeypatch) -> list[bytes]:
    """Every `sendall` a handler makes, through gevent's own `_sendall` (which both handlers end in)."""
    sent: list[bytes] = []
    original = gevent.pywsgi.WSGIHandler._sendall

    def recording(self, data):
        sent.append(bytes(data))
        return original(self, data)

    monkeypatch.setattr(gevent.pywsgi.WSGIHandler, "_sendall", recording)
    return sent


@pytest.fixture
def serve() -> Iterator:
    servers = []

    def start(handler_class: type) -> int:
        server = gevent.pywsgi.WSGIServer(("127.0.0.1", 0), app, handler_class=handler_class, log=None)
        server.start()
        servers.append(server)
        return server.server_port

    yield start
    for server in servers:
        server.stop()


def fetch(port: int, path: str) -> bytes:
    with gevent.socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def without_date(response: bytes) -> bytes:
    head, _, body = response.partition(b"\r\n\r\n")
    return b"\r\n".join(line for line in head.split(b"\r\n") if not line.startswith(b"Date:")) + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    "path, plain_writes, joined_writes",
    [
        ("/small", 2, 1),  # headers and body together
        ("/empty", 1, 1),  # only the headers, sent when gevent finds nothing to add
        ("/chunked", 4, 3),  # headers with the first chunk, then the second chunk and the terminating one
        ("/large", 2, 2),  # too big to copy: gevent's two writes
    ],
)
def test_joined_handler_sends_what_gevent_sends_in_fewer_writes(serve, writes, path, plain_writes, joined_writes):
    plain_port, joined_port = serve(WebSocketHandler), serve(joining_writes(WebSocketHandler))
    plain = fetch(plain_port, path)
    # gevent's own handler: the header block by itself, then the body's writes.
    assert len(writes) == plain_writes and writes[0].endswith(b"\r\n\r\n"), [w[:40] for w in writes]
    writes.clear()
    joined = fetch(joined_port, path)
    assert without_date(joined) == without_date(plain)
    assert len(writes) == joined_writes, [w[:40] for w in writes]
    assert b"".join(writes) == joined


def test_joining_writes_names_the_class_and_wraps_once():
    joined = joining_writes(WebSocketHandler)
    assert joined.__name__ == "JoinedWebSocketHandler" and issubclass(joined, WebSocketHandler)
    assert joining_writes(joined) is joined
