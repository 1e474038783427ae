"""The session cookie: Flask's signed cookie, whose expiry slides by the hour instead of on every response.

A logged-in session is permanent (31 days, PERMANENT_SESSION_LIFETIME), and with SESSION_REFRESH_EACH_REQUEST
Flask re-signs it and sends Set-Cookie on every response, so that the expiry follows the user's last visit. On a
feed page that was about 9% of the web process's CPU (py-spy): a new serializer for the open and another for the
save, and the signing. Here the cookie is re-signed when the session changed or when its last signing is an hour
old, so the expiry the browser holds is at most an hour short of "31 days after the last request".
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer

# In the session itself (signed with it): when the cookie was last signed, in epoch seconds.
SIGNED_AT_KEY = "_signed_at"
REFRESH_SECONDS = 3600


class HourlyRefreshSessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._serializer: tuple[Any, URLSafeTimedSerializer] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Flask builds one for every open and every save; the same keys give the same serializer."""
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if self._serializer is None or self._serializer[0] != keys:
            serializer = super().get_signing_serializer(app)
            if serializer is None:
                return None  # no secret key: Flask refuses the session itself
            self._serializer = (keys, serializer)
        return self._serializer[1]

    def should_set_cookie(self, app: Flask, session: SessionMixin) -> bool:
        if session.modified:
            return True
        if not (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        # dict.get: reading the stamp must not mark the session accessed (that adds Vary: Cookie).
        return time.time() - dict.get(session, SIGNED_AT_KEY, 0) >= REFRESH_SECONDS

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if session and self.should_set_cookie(app, session):
            session[SIGNED_AT_KEY] = int(time.time())
        super().save_session(app, session, response)
