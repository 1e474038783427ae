"""The home timeline, paginated by cursor."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from raindrop_server import timeline
from raindrop_server.api import decode_cursor, limit_arg
from raindrop_server.auth import current_user_id, login_required
from raindrop_server.views import posts_page

bp = Blueprint("feed", __name__, url_prefix="/api/feed")


@bp.get("")
@login_required
def home_feed() -> dict[str, Any]:
    limit = limit_arg()
    found = timeline.page(current_user_id(), decode_cursor(), limit + 1)
    return posts_page(list(found), limit, found)
