"""Hot reads (profiles, posts) cached in Redis as JSON and deleted on every write that changes them.

With RAINDROP_FEED_CACHE=0 nothing is read from or written to the cache, so every read goes to MySQL
(the benchmark's baseline). Redis is never the record: when it is down, reads load from MySQL and a
write's invalidation is logged (the entry expires within TTL_SECONDS anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
import redis
from flask import current_app, has_request_context, request

from raindrop_server.extensions import KEY_PREFIX, get_redis, redis_health

log = logging.getLogger(__name__)

TTL_SECONDS = 600
INVALIDATE_CHUNK = 1000
# "post2": a cached post holds its author's user-lite (views.post_fields); "post:" held author_id instead. A new
# prefix for the new shape, so a release never reads an entry of the old one (those expire within TTL_SECONDS).
# While a rolling deploy runs both releases, a comment made through an old process leaves the count of the new
# entry stale until it expires.
POST_PREFIX = f"{KEY_PREFIX}post2:"


def enabled() -> bool:
    return bool(current_app.config["FEED_CACHE"])


def usable() -> bool:
    """The cache is on and Redis did not just fail: worth a round trip."""
    return enabled() and redis_health().up()


USER_PREFIX = f"{KEY_PREFIX}user:"


def user_key(user_id: int) -> str:
    return f"{USER_PREFIX}{user_id}"


def post_key(post_id: int) -> str:
    return f"{POST_PREFIX}{post_id}"


def get_many(
    ids: list[int],
    key: Callable[[int], str],
    load: Callable[[list[int]], dict[int, dict[str, Any]]],
    prefetched: Mapping[int, str | None] | None = None,
) -> dict[int, dict[str, Any]]:
    """Look ids up in the cache, load the misses in one go, and cache what was loaded.

    `prefetched` holds cache values (None for a miss) that the caller already read in its own round trip.
    """
    if not ids:
        return {}
    if not usable():
        return load(ids)
    memo = _request_memo()
    found = {i: memo[key(i)] for i in ids if key(i) in memo}
    asked = [i for i in ids if i not in found]
    if not asked:
        return found
    if prefetched is not None and all(i in prefetched for i in asked):
        raws: list[str | None] = [prefetched[i] for i in asked]
    else:
        try:
            raws = get_redis().mget([key(i) for i in asked])
        except redis.RedisError as error:
            redis_health().failed("reading from MySQL", error)
            return {**found, **load(asked)}
    for item_id, raw in zip(asked, raws, strict=True):
        if raw:
            found[item_id] = memo[key(item_id)] = orjson.loads(raw)
    missing = [i for i in asked if i not in found]
    if missing:
        loaded = load(missing)
        put_many({key(item_id): value for item_id, value in loaded.items()})
        found.update(loaded)
    return found


def _request_memo() -> dict[str, dict[str, Any]]:
    """What this request read or wrote through the cache, by key: a logged-in request reads its user's profile
    for the session check and again for the author of what it returns, and the second read costs no round trip.
    Scoped to the request (its WSGI environ), not to `g`: an app context may outlive many requests (a test's, a
    Celery task's), and a memo there would serve what another request has since changed. Outside a request, a
    fresh dict each call: no memo."""
    if not has_request_context():
        return {}
    return request.environ.setdefault("raindrop.cache_memo", {})


def put_many(values: dict[str, dict[str, Any]]) -> None:
    """Cache these values (key -> JSON-able value) for TTL_SECONDS; a Redis outage only logs."""
    if not values or not usable():
        return
    _request_memo().update(values)
    try:
        pipe = get_redis().pipeline(transaction=False)
        for name, value in values.items():
            pipe.set(name, orjson.dumps(value), ex=TTL_SECONDS)
        pipe.execute()
    except redis.RedisError as error:
        redis_health().failed("not caching what was loaded", error)


def invalidate(keys: Iterable[str]) -> None:
    keys = list(keys)
    memo = _request_memo()
    for name in keys:
        memo.pop(name, None)
    if not keys or not enabled():
        return
    try:
        # In chunks: a renamed author's posts may be many, and one DEL of them all would hold Redis that long.
        pipe = get_redis().pipeline(transaction=False)
        for start in range(0, len(keys), INVALIDATE_CHUNK):
            pipe.delete(*keys[start : start + INVALIDATE_CHUNK])
        pipe.execute()
    except redis.RedisError as error:
        # The write is committed; failing its response now would invite a duplicate retry.
        named = keys if len(keys) <= 3 else f"{keys[:3]} and {len(keys) - 3} more keys"
        log.error("redis unavailable, %s stay cached until they expire (%d s): %s", named, TTL_SECONDS, error)
        redis_health().failed("invalidating", error)
