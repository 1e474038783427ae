"""Celery's broker transport (raindrop_server/broker.py) on the tests' Redis: the pool's connections are checked as
the app's are, publishes share one client per pool, and a task still goes through (test_worker.py runs the worker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import next_reply_after_a_stale_one
from kombu.transport import redis as kombu_redis
from raindrop_server import broker
from raindrop_server.config import _broker_transport
from raindrop_server.redis_connection import HublessCheckConnection


@pytest.fixture
def channel(app) -> Iterator[broker.Channel]:
    with app.extensions["celery"].connection_for_write() as connection:
        yield connection.default_channel


def test_celery_publishes_through_our_transport(channel):
    assert type(channel) is broker.Channel and isinstance(channel, kombu_redis.Channel)
    assert channel.pool.connection_class is HublessCheckConnection


def test_publishes_share_one_client_until_the_pool_is_replaced(channel):
    first = channel._create_client()
    assert channel._create_client() is first and first.connection_pool is channel.pool
    # kombu drops its pools after a connection error (and on close); the next client is the new pool's.
    channel._pool = None
    second = channel._create_client()
    assert second is not first and second.connection_pool is channel.pool
    # The worker's blocking and pub/sub clients are kombu's, one each, as before.
    assert channel._create_client(asynchronous=True) is not channel._create_client(asynchronous=True)


def test_an_unread_reply_on_a_broker_connection_is_seen_and_the_pool_reconnects(channel):
    """kombu's own pool, with redis-py 8's maintenance notifications on, handed this connection out as it was."""
    assert next_reply_after_a_stale_one(channel.pool) == b"fresh"


def test_a_queued_message_goes_through_the_shared_client(channel):
    channel.queue_declare(queue="raindrop-broker-test")
    try:
        channel._put("raindrop-broker-test", {"body": "one"})
        channel._put("raindrop-broker-test", {"body": "two"})
        assert channel._size("raindrop-broker-test") == 2
        assert channel._get("raindrop-broker-test")["body"] == "one"
    finally:
        channel._purge("raindrop-broker-test")


def test_only_the_urls_kombu_gives_its_redis_transport_by_scheme_get_ours():
    ours = {"broker_transport": "raindrop_server.broker:Transport"}
    assert _broker_transport("redis://127.0.0.1:6379/0") == ours
    assert _broker_transport("rediss://h:6380/0?ssl_cert_reqs=required") == ours
    assert _broker_transport("redis+socket:///run/redis.sock") == {}
    assert _broker_transport("sentinel://h:26379") == {}
