"""Small helpers the blueprints share: JSON input, validation errors, cursors."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import abort, request


def json_body(*, optional: bool = False) -> dict[str, Any]:
    if optional and not request.get_data(cache=True):
        return {}
    # Requiring application/json also keeps cross-site HTML forms out (they cannot send it without CORS).
    if not request.is_json:
        abort(400, "request body must be JSON (Content-Type: application/json)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, "request body must be a JSON object")
    return body


def text_field(
    body: dict[str, Any], name: str, *, required: bool = True, max_length: int = 10_000, min_length: int = 0
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            abort(400, f"{name} is required")
        return None
    if not isinstance(value, str):
        abort(400, f"{name} must be a string")
    if len(value) > max_length:
        abort(400, f"{name} must be at most {max_length} characters")
    if len(value.strip()) < min_length:
        abort(400, f"{name} must be at least {min_length} characters" if min_length > 1 else f"{name} is empty")
    return value


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(name: str = "cursor") -> int | None:
    """The id below which the next page starts, or None for the first page."""
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        prefix, value = text.split(":")
        last_id = int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        abort(400, "cursor is invalid")
    if prefix != "v1" or last_id < 1:
        abort(400, "cursor is invalid")
    return last_id


def limit_arg(default: int = 20, maximum: int = 50) -> int:
    raw = request.args.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        abort(400, f"limit must be an integer from 1 to {maximum}")
    return int(raw)


def page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """Trim a list fetched with limit + 1 rows and say where the next page starts."""
    has_more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": encode_cursor(items[-1]["id"]) if has_more else None}
