"""Who has a Socket.IO connection open right now, so fan-out emits only to followers who can see it."""

from __future__ import annotations

from flask import Flask, current_app

from raindrop_server.extensions import KEY_PREFIX, get_redis

ONLINE_KEY = f"{KEY_PREFIX}online"  # hash: user id -> number of open connections
_CHUNK = 1000
# A leaving connection's decrement and, at zero, the field's removal, in one round trip: when thousands of clients
# leave at once each costs one call to Redis, not two, and no reader sees a count of 0 left behind.
_LEAVE_SCRIPT = """
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
"""


def room(user_id: int) -> str:
    return f"user:{user_id}"


def connected(user_id: int) -> None:
    get_redis().hincrby(ONLINE_KEY, str(user_id), 1)


def disconnected(user_id: int) -> None:
    script = current_app.extensions["presence_leave_script"]
    script(keys=[ONLINE_KEY], args=[str(user_id)], client=get_redis())


def init_app(app: Flask) -> None:
    # Registered once, as timeline.init_app does: EVALSHA on each call, and EVAL once when Redis lacks the script.
    app.extensions["presence_leave_script"] = app.extensions["redis"].register_script(_LEAVE_SCRIPT)


def online_among(user_ids: list[int]) -> list[int]:
    # A process that dies leaves its counts behind; the cost is a few emits to empty rooms.
    redis = get_redis()
    online: list[int] = []
    for start in range(0, len(user_ids), _CHUNK):
        chunk = user_ids[start : start + _CHUNK]
        counts = redis.hmget(ONLINE_KEY, [str(u) for u in chunk])
        online.extend(u for u, count in zip(chunk, counts, strict=True) if count and int(count) > 0)
    return online
