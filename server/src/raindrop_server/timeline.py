"""Home timelines: one Redis sorted set per user (member and score = post id), MySQL behind it.

A timeline is built from MySQL the first time it is read and then kept up to date by fan-out on
write. Fan-out only touches timelines that exist, so a user who has not read recently costs
nothing and a half-built timeline never hides older posts. The member "0" (score 0) marks a
timeline that holds everything down to the beginning; once trimming drops it, reads past the end
continue in MySQL.
"""

from __future__ import annotations

import logging

import redis
import sqlalchemy as sa
from flask import Flask, current_app

from raindrop_server import cache
from raindrop_server.extensions import KEY_PREFIX, db, get_redis, redis_health
from raindrop_server.models import Follow, Post

FEED_LENGTH = 800
FEED_TTL_SECONDS = 3 * 24 * 3600
_COMPLETE = "0"
_CHUNK = 500

# Adds the post to each existing timeline and trims it, in one round trip per chunk of users.
_PUSH_SCRIPT = """
local added = 0
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('ZADD', key, ARGV[1], ARGV[1])
    redis.call('ZREMRANGEBYRANK', key, 0, -(tonumber(ARGV[2]) + 2))
    added = added + 1
  end
end
return added
"""


# One page of a timeline and the cached JSON of its posts. ARGV: the upper bound ("+inf" or "(id"), the count, the
# TTL to refresh and the post key prefix. nil when the timeline does not exist; else {complete flag, id, post JSON or
# "" for a miss, id, ...}. The post keys are built here, not passed in KEYS, so this needs a standalone Redis (or a
# proxy that allows it), as the local Redis and KVStore standard editions are. A cached post holds its author's
# short profile (views.post_fields), so a cached feed page is one round trip, and the posts are one MGET: the
# script's own work in Redis (calls and the conversion of their replies) is most of a page's cost there.
_PAGE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return nil
end
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '(0', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {redis.call('ZSCORE', KEYS[1], '0') and 1 or 0}
redis.call('EXPIRE', KEYS[1], ARGV[3])
if #ids == 0 then
  return out
end
local keys = {}
for i, id in ipairs(ids) do
  keys[i] = ARGV[4] .. id
end
local posts = redis.call('MGET', unpack(keys))
for i, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = posts[i] or ''
end
return out
"""

log = logging.getLogger(__name__)


def feed_key(user_id: int) -> str:
    return f"{KEY_PREFIX}feed:{user_id}"


def _cache_on() -> bool:
    return bool(current_app.config["FEED_CACHE"])


def followers_of(user_id: int) -> list[int]:
    return list(db.session.scalars(sa.select(Follow.follower_id).where(Follow.followee_id == user_id)))


def _mysql_ids(user_id: int, before: int | None, count: int) -> list[int]:
    followed = sa.select(Follow.followee_id).where(Follow.follower_id == user_id)
    query = sa.select(Post.id).where(sa.or_(Post.author_id.in_(followed), Post.author_id == user_id))
    if before is not None:
        query = query.where(Post.id < before)
    return list(db.session.scalars(query.order_by(Post.id.desc()).limit(count)))


def _build(user_id: int) -> None:
    ids = _mysql_ids(user_id, None, FEED_LENGTH)
    redis = get_redis()
    pipe = redis.pipeline()
    key = feed_key(user_id)
    pipe.delete(key)
    members = {str(i): i for i in ids}
    if len(ids) < FEED_LENGTH:
        members[_COMPLETE] = 0  # MySQL had nothing older
    pipe.zadd(key, members)
    pipe.expire(key, FEED_TTL_SECONDS)
    pipe.execute()
    # A post committed after the read above whose fan-out ran before the key existed was skipped by
    # that fan-out; its commit preceded this point, so a second read finds it.
    late = _mysql_ids_after(user_id, ids[0] if ids else 0)
    if late:
        redis.zadd(key, {str(i): i for i in late})


def _mysql_ids_after(user_id: int, newest: int) -> list[int]:
    followed = sa.select(Follow.followee_id).where(Follow.follower_id == user_id)
    query = sa.select(Post.id).where(sa.or_(Post.author_id.in_(followed), Post.author_id == user_id), Post.id > newest)
    return list(db.session.scalars(query.order_by(Post.id.desc()).limit(FEED_LENGTH)))


def page(user_id: int, before: int | None, count: int) -> dict[int, str | None]:
    """Up to count posts of the home timeline, newest first, below the post id before: {post id: its cached JSON or
    None}, as read in the page's one round trip (see cache.get_many's `prefetched`). A cached feed page costs one call
    to Redis (one script); MySQL answers when Redis is down."""
    if not cache.usable():
        return dict.fromkeys(_mysql_ids(user_id, before, count))
    try:
        found = _read(user_id, before, count)
        if found is None:
            _build(user_id)
            found = _read(user_id, before, count)
    except redis.RedisError as error:
        redis_health().failed("the feed comes from MySQL", error)
        return dict.fromkeys(_mysql_ids(user_id, before, count))
    if found is None:  # expired between the build and the read: MySQL has the answer
        return dict.fromkeys(_mysql_ids(user_id, before, count))
    posts, complete = found
    if len(posts) < count and not complete:
        last = next(reversed(posts)) if posts else before
        posts.update(dict.fromkeys(_mysql_ids(user_id, last, count - len(posts))))
    return posts


def _read(user_id: int, before: int | None, count: int) -> tuple[dict[int, str | None], bool] | None:
    """The timeline's posts and whether it reaches the beginning, or None when there is no timeline."""
    script = current_app.extensions["timeline_page_script"]
    upper = f"({before}" if before is not None else "+inf"
    reply = script(
        keys=[feed_key(user_id)], args=[upper, count, FEED_TTL_SECONDS, cache.POST_PREFIX], client=get_redis()
    )
    if reply is None:
        return None
    complete, *pairs = reply
    # [id, value or "", id, ...] as {id: value or None}, in order.
    return {int(pairs[i]): pairs[i + 1] or None for i in range(0, len(pairs), 2)}, bool(complete)


def init_app(app: Flask) -> None:
    app.extensions["timeline_page_script"] = app.extensions["redis"].register_script(_PAGE_SCRIPT)


def push(user_ids: list[int], post_id: int) -> int:
    """Add a post to the existing timelines of user_ids; returns how many timelines took it."""
    if not _cache_on():
        return 0
    script = get_redis().register_script(_PUSH_SCRIPT)
    added = 0
    for start in range(0, len(user_ids), _CHUNK):
        keys = [feed_key(u) for u in user_ids[start : start + _CHUNK]]
        added += int(script(keys=keys, args=[post_id, FEED_LENGTH]))
    return added


def remove(user_ids: list[int], post_id: int) -> None:
    if not _cache_on():
        return
    pipe = get_redis().pipeline(transaction=False)
    for user_id in user_ids:
        pipe.zrem(feed_key(user_id), str(post_id))
    pipe.execute()


def forget(user_id: int) -> None:
    """Drop a timeline whose sources changed (follow, unfollow); the next read rebuilds it."""
    if not _cache_on():
        return
    try:
        get_redis().delete(feed_key(user_id))
    except redis.RedisError as error:
        # The follow change is committed; the old timeline lives on until it expires (FEED_TTL_SECONDS).
        log.error("redis unavailable, the timeline of user %d was not rebuilt: %s", user_id, error)
        redis_health().failed("forgetting a timeline", error)
