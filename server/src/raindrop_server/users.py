"""Profiles, mention autocomplete, follow, and a user's own posts."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, request

from raindrop_server import cache, notifications, timeline
from raindrop_server.api import decode_cursor, json_body, limit_arg, text_field
from raindrop_server.auth import current_user_id, login_required
from raindrop_server.extensions import db
from raindrop_server.models import Follow, Post, User
from raindrop_server.views import posts_page, user_json, users_json

bp = Blueprint("users", __name__, url_prefix="/api/users")

AUTOCOMPLETE_LIMIT = 10


def _user_or_404(username: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        abort(404, "user not found")
    return user


@bp.get("")
def search_users() -> dict[str, Any]:
    prefix = request.args.get("q", "").strip().lstrip("@")
    if not prefix:
        abort(400, "q is required")
    if len(prefix) > 30:
        abort(400, "q must be at most 30 characters")
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    ids = list(
        db.session.scalars(
            sa.select(User.id)
            .where(User.username.like(escaped + "%", escape="\\"))
            .order_by(User.username)
            .limit(AUTOCOMPLETE_LIMIT)
        )
    )
    return {"items": users_json(ids, current_user_id())}


@bp.patch("/me")
@login_required
def edit_profile() -> dict[str, Any]:
    user = db.session.get(User, current_user_id())
    body = json_body()
    display_name = text_field(body, "display_name", required=False, max_length=50)
    bio = text_field(body, "bio", required=False, max_length=500)
    unknown = set(body) - {"display_name", "bio"}
    if unknown:
        abort(400, f"unknown fields: {', '.join(sorted(unknown))}")
    shown_before = user.display_name
    if display_name is not None:
        user.display_name = display_name.strip() or user.username
    if bio is not None:
        user.bio = bio.strip()
    renamed = user.display_name != shown_before
    db.session.commit()
    stale = [cache.user_key(user.id)]
    if renamed:  # each cached post holds its author's display name (views.post_fields)
        stale += (cache.post_key(i) for i in db.session.scalars(sa.select(Post.id).where(Post.author_id == user.id)))
    cache.invalidate(stale)
    return {"user": user_json(user.id, user.id)}


@bp.get("/<username>")
def get_user(username: str) -> dict[str, Any]:
    return {"user": user_json(_user_or_404(username).id, current_user_id())}


@bp.post("/<username>/follow")
@login_required
def follow(username: str) -> dict[str, Any]:
    viewer_id = current_user_id()
    target = _user_or_404(username)
    if target.id == viewer_id:
        abort(400, "you cannot follow yourself")
    if db.session.get(Follow, {"follower_id": viewer_id, "followee_id": target.id}) is None:
        db.session.add(Follow(follower_id=viewer_id, followee_id=target.id))
        notes = notifications.add([target.id], "follow", viewer_id)
        try:
            db.session.commit()
        except sa.exc.IntegrityError:
            db.session.rollback()  # a second click raced the first; the follow exists either way
            notes = []
        _followed_changed(viewer_id, target.id)
        notifications.push(notes)
    return {"user": user_json(target.id, viewer_id)}


@bp.delete("/<username>/follow")
@login_required
def unfollow(username: str) -> dict[str, Any]:
    viewer_id = current_user_id()
    target = _user_or_404(username)
    deleted = db.session.execute(
        sa.delete(Follow).where(Follow.follower_id == viewer_id, Follow.followee_id == target.id)
    ).rowcount
    db.session.commit()
    if deleted:
        _followed_changed(viewer_id, target.id)
    return {"user": user_json(target.id, viewer_id)}


def _followed_changed(follower_id: int, followee_id: int) -> None:
    cache.invalidate([cache.user_key(follower_id), cache.user_key(followee_id)])
    timeline.forget(follower_id)


@bp.get("/<username>/posts")
def user_posts(username: str) -> dict[str, Any]:
    user = _user_or_404(username)
    before = decode_cursor()
    limit = limit_arg()
    query = sa.select(Post.id).where(Post.author_id == user.id)
    if before is not None:
        query = query.where(Post.id < before)
    ids = list(db.session.scalars(query.order_by(Post.id.desc()).limit(limit + 1)))
    return posts_page(ids, limit)
