"""Posts and comments."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, abort

from raindrop_server import cache, notifications
from raindrop_server.api import json_body, text_field
from raindrop_server.auth import current_user_id, login_required
from raindrop_server.celery_app import enqueue
from raindrop_server.extensions import db
from raindrop_server.models import Comment, Post, utcnow
from raindrop_server.tasks import fan_out_post, remove_post_from_feeds
from raindrop_server.text import render_markdown
from raindrop_server.uploads import url_prefixes
from raindrop_server.views import comments_json, post_fields, posts_json, profiles, user_lite

bp = Blueprint("posts", __name__, url_prefix="/api/posts")

MAX_BODY = 5000
# One statement object, so SQLAlchemy compiles it once (its cache key is the same on every call).
_INSERT_POST = sa.insert(Post.__table__)
MAX_COMMENTS = 500


def _image_url(body: dict[str, Any]) -> str | None:
    """Only images this site stored: the uploads prefix, or the OSS public base when configured."""
    url = text_field(body, "image_url", required=False, max_length=500)
    if not url:
        return None
    name = next((url[len(p) :] for p in url_prefixes() if url.startswith(p)), None)
    if not name or "/" in name or name.startswith("."):
        abort(400, "image_url must be a URL returned by /api/uploads")
    return url


def _post_or_404(post_id: int) -> Post:
    post = db.session.get(Post, post_id)
    if post is None:
        abort(404, "post not found")
    return post


@bp.post("")
@login_required
def create_post() -> tuple[dict[str, Any], int]:
    author_id = current_user_id()
    body = json_body()
    text = text_field(body, "body", max_length=MAX_BODY, min_length=1)
    # Whole seconds, as MariaDB's DATETIME keeps them (MySQL would round): the response and the cache entry are
    # built from these values, and a later read of the row must show the same created_at.
    row = {
        "author_id": author_id,
        "body": text,
        "html": render_markdown(text, notifications.existing_usernames),
        "image_url": _image_url(body),
        "comment_count": 0,
        "created_at": utcnow().replace(microsecond=0),
    }
    # A Core INSERT on the session's connection, not an ORM object: the unit of work's flush (or an ORM-enabled
    # insert) was a fifth of a post's CPU time, and nothing here needs the object. It runs in the session's
    # transaction, which the mentions' notifications join.
    post_id = db.session.connection().execute(_INSERT_POST, row).inserted_primary_key[0]
    fields = post_fields(Post(id=post_id, **row), user_lite(profiles([author_id])[author_id]))
    notes = notifications.add(notifications.mentioned_users(text, author_id), "mention", author_id, post_id)
    db.session.commit()
    # Cached now, so the fan-out task and the followers' first feed reads do not load the row back from MySQL.
    cache.put_many({cache.post_key(post_id): fields})
    notifications.push(notes)
    enqueue(fan_out_post, post_id)
    return {"post": fields}, 201


@bp.get("/<int:post_id>")
def get_post(post_id: int) -> dict[str, Any]:
    posts = posts_json([post_id])
    if not posts:
        abort(404, "post not found")
    return {"post": posts[0]}


@bp.delete("/<int:post_id>")
@login_required
def delete_post(post_id: int) -> Response:
    post = _post_or_404(post_id)
    if post.author_id != current_user_id():
        abort(403, "only the author can delete a post")
    author_id = post.author_id
    db.session.delete(post)
    db.session.commit()
    cache.invalidate([cache.post_key(post_id)])
    enqueue(remove_post_from_feeds, post_id, author_id)
    return Response(status=204)


@bp.get("/<int:post_id>/comments")
def list_comments(post_id: int) -> dict[str, Any]:
    _post_or_404(post_id)
    rows = db.session.scalars(
        sa.select(Comment).where(Comment.post_id == post_id).order_by(Comment.id).limit(MAX_COMMENTS)
    ).all()
    return {"items": comments_json(list(rows))}


@bp.post("/<int:post_id>/comments")
@login_required
def create_comment(post_id: int) -> tuple[dict[str, Any], int]:
    author_id = current_user_id()
    post = _post_or_404(post_id)
    body = json_body()
    text = text_field(body, "body", max_length=MAX_BODY, min_length=1)
    html = render_markdown(text, notifications.existing_usernames)
    comment = Comment(post_id=post.id, author_id=author_id, body=text, html=html)
    db.session.add(comment)
    # Counted in SQL so two comments at once both count.
    db.session.execute(sa.update(Post).where(Post.id == post.id).values(comment_count=Post.comment_count + 1))
    mentioned = notifications.mentioned_users(text, author_id)
    notes = notifications.add(mentioned, "mention", author_id, post.id)
    if post.author_id not in mentioned:
        notes += notifications.add([post.author_id], "comment", author_id, post.id)
    db.session.commit()
    cache.invalidate([cache.post_key(post.id)])
    notifications.push(notes)
    return {"comment": comments_json([comment])[0]}, 201
