"""Notifications: stored in MySQL, listed, marked read, pushed live by the Celery worker."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort

from raindrop_server.api import decode_cursor, json_body, limit_arg, page
from raindrop_server.auth import current_user_id, login_required
from raindrop_server.celery_app import enqueue
from raindrop_server.extensions import db
from raindrop_server.models import Notification, User
from raindrop_server.tasks import push_notification
from raindrop_server.text import mentioned_usernames
from raindrop_server.views import notification_json

bp = Blueprint("notifications", __name__, url_prefix="/api/notifications")


def mentioned_users(body: str, author_id: int) -> list[int]:
    names = mentioned_usernames(body)
    if not names:
        return []
    return list(db.session.scalars(sa.select(User.id).where(User.username.in_(names), User.id != author_id)))


def existing_usernames(names: list[str]) -> dict[str, str]:
    """The users among these names, in one query: lower-cased name -> username as stored (MariaDB compares
    names case-insensitively, so @Bob finds bob)."""
    rows = db.session.scalars(sa.select(User.username).where(User.username.in_(names)))
    return {username.lower(): username for username in rows}


def add(user_ids: list[int], kind: str, actor_id: int, post_id: int | None = None) -> list[Notification]:
    """Stage notifications in the session; call push() with the result after the commit."""
    notes = [
        Notification(user_id=u, kind=kind, actor_id=actor_id, post_id=post_id)
        for u in dict.fromkeys(user_ids)
        if u != actor_id
    ]
    db.session.add_all(notes)
    return notes


def push(notes: list[Notification]) -> None:
    for note in notes:
        enqueue(push_notification, note.id)


def _unread(user_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).where(Notification.user_id == user_id, Notification.read.is_(False))
    )


@bp.get("")
@login_required
def list_notifications() -> dict[str, Any]:
    user_id = current_user_id()
    before = decode_cursor()
    limit = limit_arg()
    query = sa.select(Notification).where(Notification.user_id == user_id)
    if before is not None:
        query = query.where(Notification.id < before)
    rows = db.session.scalars(query.order_by(Notification.id.desc()).limit(limit + 1)).all()
    result = page([notification_json(n) for n in rows], limit)
    result["unread"] = _unread(user_id)
    return result


@bp.post("/read")
@login_required
def mark_read() -> dict[str, Any]:
    user_id = current_user_id()
    body = json_body(optional=True)
    ids = body.get("ids")
    update = sa.update(Notification).where(Notification.user_id == user_id).values(read=True)
    if ids is not None:
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            abort(400, "ids must be a list of integers")
        update = update.where(Notification.id.in_(ids))
    db.session.execute(update)
    db.session.commit()
    return {"unread": _unread(user_id)}
