"""Fixed-window attempt counters in Redis, shared by every gunicorn process."""

from __future__ import annotations

import logging

import redis
from flask import current_app, request
from werkzeug.exceptions import TooManyRequests

from raindrop_server.extensions import KEY_PREFIX, get_redis, redis_health

log = logging.getLogger(__name__)


def check_auth_rate(action: str) -> None:
    """Count one attempt at action from this client; 429 once the window's budget is spent.

    Fails open when Redis is down: a login outage for everyone is worse than an unthrottled minute, and
    argon2 still makes each guess expensive. Every attempt let through that way is logged.
    """
    allowed, window = current_app.config["AUTH_RATE"]
    key = f"{KEY_PREFIX}rl:{action}:{request.remote_addr}"
    if not redis_health().up():
        log.warning("redis unavailable, %s rate limit not enforced for %s (fail open)", action, key)
        return
    try:
        pipe = get_redis().pipeline()
        pipe.incr(key)
        pipe.expire(key, window, nx=True)
        pipe.ttl(key)
        attempts, _, ttl = pipe.execute()
    except redis.RedisError as error:
        log.warning("redis unavailable, %s rate limit not enforced for %s (fail open): %s", action, key, error)
        redis_health().failed("rate limits fail open", error)
        return
    if attempts > allowed:
        wait = max(ttl, 1)
        raise TooManyRequests(f"too many {action} attempts, try again in {wait} seconds", retry_after=wait)
