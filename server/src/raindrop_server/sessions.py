"""The session cookie: Flask's signed cookie, whose expiry slides by the hour instead of on every response.

A logged-in session is permanent (31 days, PERMANENT_SESSION_LIFETIME), and with SESSION_REFRESH_EACH_REQUEST
Flask re-signs it and sends Set-Cookie on every response, so that the expiry follows the user's last visit. On a
feed page that was about 9% of the web process's CPU (py-spy): a new serializer for the open and another for the
save, and the signing. Here the cookie is re-signed when the session changed or when its last signing is an hour
old, so the expiry the browser holds is at most an hour short of "31 days after the last request".

Opening the session was 9.9% of a feed page's web CPU (py-spy on the bench host): every request of a logged-in user
verifies the same cookie (the HMAC, base64 and the tagged JSON) until the hourly re-signing changes it. The process
keeps what a cookie verified to, keyed by the cookie's exact value, and a request with the same cookie gets a copy.
That is the same answer the verification would give, as long as the keys (the entry names the serializer it was
verified with) and the cookie's age (checked against PERMANENT_SESSION_LIFETIME on every use) allow it. Only
sessions of plain values are kept, so no request can change another's copy in place.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import BadSignature, URLSafeTimedSerializer

# In the session itself (signed with it): when the cookie was last signed, in epoch seconds.
SIGNED_AT_KEY = "_signed_at"
REFRESH_SECONDS = 3600
# Verified cookies this process keeps; when full, the lot is dropped and refilled.
VERIFIED_MAX = 10_000
_PLAIN = (str, int, float, bool, type(None))


class HourlyRefreshSessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._serializer: tuple[Any, URLSafeTimedSerializer] | None = None
        # cookie value -> (the serializer that verified it, its data, when it was signed in epoch seconds)
        self._verified: dict[str, tuple[URLSafeTimedSerializer, dict[str, Any], float]] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Flask builds one for every open and every save; the same keys give the same serializer."""
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if self._serializer is None or self._serializer[0] != keys:
            serializer = super().get_signing_serializer(app)
            if serializer is None:
                return None  # no secret key: Flask refuses the session itself
            self._serializer = (keys, serializer)
        return self._serializer[1]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Flask's open_session (the same answers), with the verified cookies remembered (see the module)."""
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        known = self._verified.get(value)
        if known is not None and known[0] is serializer and 0 <= time.time() - known[2] <= max_age:
            return self.session_class(known[1])
        try:
            data, signed = serializer.loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if isinstance(data, dict) and all(isinstance(v, _PLAIN) for v in data.values()):
            if len(self._verified) >= VERIFIED_MAX:
                self._verified.clear()
            self._verified[value] = (serializer, data, signed.timestamp())
        return self.session_class(data)

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
