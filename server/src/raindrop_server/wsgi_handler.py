"""One write per small response for gevent's WSGI handler.

gevent's pywsgi sends a response's header block and its first body chunk in two `sendall` calls (on purpose: it
avoids copying a large body). For our responses, a few hundred bytes to a few KB of JSON, that is two syscalls and
two hub turns where one does: measured with py-spy on the bench host, the second write was 6.7% of a feed page's
web CPU and 4.2% of a new post's. This holds the header block back and sends it joined to the first body chunk when
that chunk is small, and leaves everything else to gevent as it is.

gunicorn.conf.py's `post_worker_init` wraps the worker's handler class with `joining_writes`, in the worker, after
the fork, so a HUP's new worker takes this module from the release `current` points to.
"""

from __future__ import annotations

from typing import Any

# Bodies up to this size are copied behind the headers. Larger ones go as gevent sends them, in their own call.
JOIN_LIMIT = 64 * 1024


class JoinedWrites:
    """A mixin for a `gevent.pywsgi.WSGIHandler` subclass: the headers and a small first chunk in one write."""

    _held_headers: bytes | None = None
    _holding = False

    def _write_with_headers(self, data: bytes) -> None:
        # gevent serializes the headers and sends them (the held write), then the first chunk through `_write`,
        # which adds the chunked framing where there is one. An empty chunk is not held (there is nothing to join);
        # `finally` sends held headers that gevent failed to follow with the chunk.
        self._holding = bool(data) and len(data) <= JOIN_LIMIT
        try:
            super()._write_with_headers(data)  # type: ignore[misc]
        finally:
            self._holding = False
            held, self._held_headers = self._held_headers, None
            if held is not None:
                super()._sendall(held)  # type: ignore[misc]

    def _sendall(self, data: Any) -> None:
        if self._holding and self._held_headers is None:
            self._held_headers = bytes(data)
            return
        held, self._held_headers = self._held_headers, None
        if held is not None:
            self._holding = False
            data = held + data
        super()._sendall(data)  # type: ignore[misc]


def joining_writes(handler_class: type) -> type:
    """`handler_class` with `JoinedWrites` in front of it (gunicorn's gevent workers name theirs `wsgi_handler`)."""
    if issubclass(handler_class, JoinedWrites):
        return handler_class
    return type(f"Joined{handler_class.__name__}", (JoinedWrites, handler_class), {})
