"""Raindrop server.

Importing the package imports nothing else, so that raindrop_server.wsgi can patch the standard
library with gevent before Flask, redis or Celery import socket and ssl. create_app lives in
raindrop_server.factory and is loaded from here on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from raindrop_server.factory import create_app

        return create_app
    raise AttributeError(f"module 'raindrop_server' has no attribute {name!r}")
