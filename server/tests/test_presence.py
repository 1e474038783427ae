"""Presence counts: one per open connection of a user; the field goes when the last one leaves."""

from __future__ import annotations

from raindrop_server import presence


def test_a_user_is_online_until_the_last_connection_leaves(app, redis_client):
    with app.app_context():
        presence.connected(7)
        presence.connected(7)
        presence.connected(9)
        assert redis_client.hgetall(presence.ONLINE_KEY) == {"7": "2", "9": "1"}
        assert presence.online_among([7, 8, 9]) == [7, 9]

        presence.disconnected(7)
        assert redis_client.hgetall(presence.ONLINE_KEY) == {"7": "1", "9": "1"}
        presence.disconnected(7)
        presence.disconnected(9)
        assert redis_client.hgetall(presence.ONLINE_KEY) == {}
        assert presence.online_among([7, 8, 9]) == []


def test_a_leave_without_a_count_leaves_no_negative_count(app, redis_client):
    # A process that restarted lost the count its clients had added; their leaving must not go below zero.
    with app.app_context():
        presence.disconnected(5)
        assert redis_client.hgetall(presence.ONLINE_KEY) == {}
