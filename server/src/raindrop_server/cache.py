"""Hot reads (profiles, posts) cached in Redis as JSON and deleted on every write that changes them.

With RAINDROP_FEED_CACHE=0 nothing is read from or written to the cache, so every read goes to MySQL
(the benchmark's baseline).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from flask import current_app

from raindrop_server.extensions import KEY_PREFIX, get_redis

TTL_SECONDS = 600


def enabled() -> bool:
    return bool(current_app.config["FEED_CACHE"])


def user_key(user_id: int) -> str:
    return f"{KEY_PREFIX}user:{user_id}"


def post_key(post_id: int) -> str:
    return f"{KEY_PREFIX}post:{post_id}"


def get_many(
    ids: list[int], key: Callable[[int], str], load: Callable[[list[int]], dict[int, dict[str, Any]]]
) -> dict[int, dict[str, Any]]:
    """Look ids up in the cache, load the misses in one go, and cache what was loaded."""
    if not ids:
        return {}
    if not enabled():
        return load(ids)
    redis = get_redis()
    found: dict[int, dict[str, Any]] = {}
    for item_id, raw in zip(ids, redis.mget([key(i) for i in ids]), strict=True):
        if raw is not None:
            found[item_id] = json.loads(raw)
    missing = [i for i in ids if i not in found]
    if missing:
        loaded = load(missing)
        if loaded:
            pipe = redis.pipeline(transaction=False)
            for item_id, value in loaded.items():
                pipe.set(key(item_id), json.dumps(value), ex=TTL_SECONDS)
            pipe.execute()
        found.update(loaded)
    return found


def invalidate(keys: Iterable[str]) -> None:
    keys = list(keys)
    if keys and enabled():
        get_redis().delete(*keys)
