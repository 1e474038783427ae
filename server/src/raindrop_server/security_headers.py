"""Security headers on every response the Flask app gives: the API's JSON, its errors and its static files.

The app serves no HTML page (nginx serves the Angular client, with the page policy of
config/nginx-security-headers.conf.j2), so its own policy is the tightest there is: a JSON body that a
browser is tricked into rendering as a document may load nothing and may not be framed. nginx adds its page
headers only where this app sent none (the maps in config/nginx-security-headers-http.conf.j2), so these are
what a browser sees on /api/ behind nginx too.

Plain after_request rather than flask-talisman: Talisman's defaults (an HTTPS redirect, HSTS, forcing the
session cookie Secure) are the deploy's business here (nginx and RAINDROP_COOKIE_SECURE), and turning them all
off to keep four headers would be more code than setting them.
"""

from __future__ import annotations

from flask import Flask, Response

API_SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # An API response never navigates anywhere, so it has no reason to leak even its origin.
    "Referrer-Policy": "no-referrer",
}


def add_security_headers(response: Response) -> Response:
    # setdefault: a view that needs another value for one of them sets it itself.
    for name, value in API_SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def init_app(app: Flask) -> None:
    # after_request also runs for the responses of error handlers (404, 413, the 500 of an unexpected error).
    app.after_request(add_security_headers)
