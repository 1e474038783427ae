"""A redis-py connection whose "is anything waiting?" check on checkout does not go through gevent's hub.

redis-py's pool asks every connection it hands out `can_read()`: a connection returned with an unread reply, or
one the server closed, must not be reused. With hiredis that is a zero-timeout `select.poll()`, and in a
monkey-patched process that is gevent's poll, which starts a watcher for the socket and waits on the hub even for a
zero timeout: a full turn of the event loop for every Redis command. On the bench host that was 5.9% of a feed
page's and 5.3% of a new post's web CPU (py-spy). A zero-timeout poll cannot block, so the stdlib's own (unpatched)
answers the common case, an idle socket, without the hub; a socket that is readable (a pending reply, EOF, an
error) goes to redis-py's own check, which tells those apart.
"""

from __future__ import annotations

import select

import redis
from gevent import monkey

_POLL = monkey.get_original("select", "poll")


def _readable_now(sock: object) -> bool:
    poller = _POLL()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class HublessCheckConnection(redis.Connection):
    """redis.Connection whose zero-timeout can_read() on an idle socket skips gevent's hub (see the module)."""

    def can_read(self, timeout: float = 0) -> bool:
        reader = getattr(self._parser, "_reader", None)  # hiredis's Reader: bytes already read off the socket
        if timeout or self._sock is None or reader is None or reader.has_data() or _readable_now(self._sock):
            return super().can_read(timeout)
        return False
