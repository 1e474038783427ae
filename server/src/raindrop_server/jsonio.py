"""Flask's JSON in and out through orjson: several times faster than the standard library's encoder, which was a
visible part of a feed page's CPU time. Keys stay sorted, as Flask's default provider sorts them."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask, Response
from flask.json.provider import JSONProvider

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


class OrjsonProvider(JSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, option=_OPTIONS).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(orjson.dumps(obj, option=_OPTIONS), mimetype="application/json")


def init_app(app: Flask) -> None:
    app.json = OrjsonProvider(app)
