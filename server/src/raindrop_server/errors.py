"""Every error leaves as JSON {"msg": ...}: never an HTML page or a traceback."""

from __future__ import annotations

import json

from flask import Flask, Response
from werkzeug.exceptions import HTTPException, InternalServerError

# Werkzeug's stock descriptions are written for HTML pages; these read better in a JSON client.
SHORT_MESSAGES = {
    400: "bad request",
    401: "login required",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    413: "request too large (uploads are at most 4 MB)",
    429: "too many requests",
    500: "internal server error",
}


def json_error(error: HTTPException) -> Response:
    description = error.description
    if not description or description == type(error).description:
        description = SHORT_MESSAGES.get(error.code or 500, error.name)
    # get_response keeps headers such as Allow (405) and Retry-After (429).
    response = error.get_response()
    response.set_data(json.dumps({"msg": description}))
    response.content_type = "application/json"
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, json_error)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        app.logger.exception("unhandled error", exc_info=error)
        return json_error(InternalServerError())
