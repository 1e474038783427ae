"""Who has a Socket.IO connection open right now, so fan-out emits only to followers who can see it."""

from __future__ import annotations

from raindrop_server.extensions import KEY_PREFIX, get_redis

ONLINE_KEY = f"{KEY_PREFIX}online"  # hash: user id -> number of open connections
_CHUNK = 1000


def room(user_id: int) -> str:
    return f"user:{user_id}"


def connected(user_id: int) -> None:
    get_redis().hincrby(ONLINE_KEY, str(user_id), 1)


def disconnected(user_id: int) -> None:
    redis = get_redis()
    if redis.hincrby(ONLINE_KEY, str(user_id), -1) <= 0:
        redis.hdel(ONLINE_KEY, str(user_id))


def online_among(user_ids: list[int]) -> list[int]:
    # A process that dies leaves its counts behind; the cost is a few emits to empty rooms.
    redis = get_redis()
    online: list[int] = []
    for start in range(0, len(user_ids), _CHUNK):
        chunk = user_ids[start : start + _CHUNK]
        counts = redis.hmget(ONLINE_KEY, [str(u) for u in chunk])
        online.extend(u for u, count in zip(chunk, counts, strict=True) if count and int(count) > 0)
    return online
