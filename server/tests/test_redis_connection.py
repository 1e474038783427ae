"""The Redis pool's connections: the checkout check skips gevent's hub on an idle socket and still catches the
cases redis-py's check exists for (an unread reply, a connection the server closed)."""

from __future__ import annotations

import redis
from conftest import next_reply_after_a_stale_one
from raindrop_server.extensions import get_redis
from raindrop_server.redis_connection import HublessCheckConnection


def test_an_idle_connection_has_nothing_to_read(app):
    with app.app_context():
        pool = get_redis().connection_pool
    connection = pool.get_connection()
    try:
        assert type(connection) is HublessCheckConnection
        connection.send_command("PING")
        assert connection.read_response() == "PONG"
        assert connection.can_read() is False
    finally:
        pool.release(connection)


def test_an_unread_reply_is_seen_and_the_pool_reconnects_instead_of_handing_it_out(app):
    with app.app_context():
        pool = get_redis().connection_pool
    assert next_reply_after_a_stale_one(pool) == "fresh"


def test_a_connection_the_server_closed_is_replaced_on_checkout(app, redis_client):
    with app.app_context():
        client = get_redis()
        client.client_setname("raindrop-checkout-test")
        victim = next(c for c in redis_client.client_list() if c.get("name") == "raindrop-checkout-test")
        redis_client.client_kill_filter(_id=victim["id"])
        # The pool's next checkout finds EOF on the socket and reconnects: the command succeeds.
        assert client.ping() is True


def test_only_plain_redis_urls_get_the_class():
    assert type(redis.BlockingConnectionPool.from_url("rediss://h:1/0").make_connection()) is redis.SSLConnection
    from raindrop_server.extensions import _connection_class

    assert _connection_class("redis://h:1/0") == {"connection_class": HublessCheckConnection}
    assert _connection_class("rediss://h:1/0") == {}
    assert _connection_class("unix:///run/redis.sock") == {}
