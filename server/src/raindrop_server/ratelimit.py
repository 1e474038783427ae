"""Fixed-window attempt counters in Redis, shared by every gunicorn process."""

from __future__ import annotations

from flask import current_app, request
from werkzeug.exceptions import TooManyRequests

from raindrop_server.extensions import KEY_PREFIX, get_redis


def check_auth_rate(action: str) -> None:
    """Count one attempt at action from this client; 429 once the window's budget is spent."""
    allowed, window = current_app.config["AUTH_RATE"]
    key = f"{KEY_PREFIX}rl:{action}:{request.remote_addr}"
    pipe = get_redis().pipeline()
    pipe.incr(key)
    pipe.expire(key, window, nx=True)
    pipe.ttl(key)
    attempts, _, ttl = pipe.execute()
    if attempts > allowed:
        wait = max(ttl, 1)
        raise TooManyRequests(f"too many {action} attempts, try again in {wait} seconds", retry_after=wait)
