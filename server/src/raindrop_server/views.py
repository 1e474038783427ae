"""The JSON shapes of docs/contracts.md, loaded in batches and through the cache."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload

from raindrop_server import cache
from raindrop_server.api import page
from raindrop_server.extensions import db
from raindrop_server.models import Comment, Follow, Notification, Post, User


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds") + "Z"


def _load_profiles(ids: list[int]) -> dict[int, dict[str, Any]]:
    users = db.session.scalars(sa.select(User).where(User.id.in_(ids))).all()
    followers = dict(
        db.session.execute(
            sa.select(Follow.followee_id, sa.func.count())
            .where(Follow.followee_id.in_(ids))
            .group_by(Follow.followee_id)
        ).all()
    )
    following = dict(
        db.session.execute(
            sa.select(Follow.follower_id, sa.func.count())
            .where(Follow.follower_id.in_(ids))
            .group_by(Follow.follower_id)
        ).all()
    )
    return {
        u.id: {
            "id": u.id,
            "username": u.username,
            "display_name": u.display_name,
            "bio": u.bio,
            "followers": followers.get(u.id, 0),
            "following": following.get(u.id, 0),
        }
        for u in users
    }


def profiles(ids: list[int], prefetched: dict[int, str | None] | None = None) -> dict[int, dict[str, Any]]:
    """Profiles by id, through the cache; `prefetched`: see cache.get_many."""
    return cache.get_many(list(dict.fromkeys(ids)), cache.user_key, _load_profiles, prefetched)


# The contract's user-lite (docs/contracts.md): what a post or a comment shows of its author.
LITE_FIELDS = ("id", "username", "display_name")


def user_lite(profile: dict[str, Any]) -> dict[str, Any]:
    """The user-lite of a full profile (a `profiles` value)."""
    return {name: profile[name] for name in LITE_FIELDS}


def lite_of(user: User) -> dict[str, Any]:
    """The user-lite of a User row."""
    return {name: getattr(user, name) for name in LITE_FIELDS}


def users_json(user_ids: list[int], viewer_id: int | None) -> list[dict[str, Any]]:
    """Full user objects in the order of user_ids, with is_following as seen by viewer_id."""
    found = profiles(user_ids)
    followed: set[int] = set()
    if viewer_id and user_ids:
        followed = set(
            db.session.scalars(
                sa.select(Follow.followee_id).where(Follow.follower_id == viewer_id, Follow.followee_id.in_(user_ids))
            )
        )
    return [{**found[u], "is_following": u in followed} for u in user_ids if u in found]


def user_json(user_id: int, viewer_id: int | None) -> dict[str, Any]:
    return users_json([user_id], viewer_id)[0]


# Session users this process found to exist, kept this long: every logged-in request checks its user, and that
# check was a Redis round trip of its own, a tenth of a feed page's CPU time. A user removed from the database (no
# endpoint does it; an operator may) is refused by every process within this time. At most KNOWN_USERS_MAX are
# kept, then the lot is dropped and refilled.
KNOWN_USER_SECONDS = 5.0
KNOWN_USERS_MAX = 10_000


def user_exists(user_id: int) -> bool:
    """Does the user of a session still exist? Answered from this process's recent answers, else from the profile
    cache, so a logged-in request that needs no other row takes no database connection. With the cache off (the
    benchmark's baseline), every check asks MySQL."""
    if not cache.enabled():
        return db.session.get(User, user_id) is not None
    known: dict[int, float] = current_app.extensions.setdefault("raindrop_known_users", {})
    now = time.monotonic()
    if known.get(user_id, 0.0) > now:
        return True
    exists = user_id in profiles([user_id])
    if exists:
        if len(known) >= KNOWN_USERS_MAX:
            known.clear()
        known[user_id] = now + KNOWN_USER_SECONDS
    return exists


def post_fields(post: Post, author: dict[str, Any]) -> dict[str, Any]:
    """A post in the contract's shape, as it is also cached: with its author's short profile (`user_lite`) inside.
    The short profile changes only when the author edits their display name (users.edit_profile drops the author's
    cached posts then), not on every follow as the full profile does, so a feed page needs no profile reads."""
    return {
        "id": post.id,
        "author": author,
        "body": post.body,
        "html": post.html,
        "image_url": post.image_url,
        "created_at": iso(post.created_at),
        "comment_count": post.comment_count,
    }


def _load_posts(ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = db.session.scalars(
        sa.select(Post)
        .where(Post.id.in_(ids))
        .options(joinedload(Post.author).load_only(*(getattr(User, name) for name in LITE_FIELDS)))
    ).all()
    return {p.id: post_fields(p, lite_of(p.author)) for p in rows}


def posts_json(ids: list[int], prefetched: dict[int, str | None] | None = None) -> list[dict[str, Any]]:
    """Posts in the order of ids; ids of deleted posts are skipped. `prefetched`: see cache.get_many."""
    found = cache.get_many(ids, cache.post_key, _load_posts, prefetched)
    return [found[i] for i in ids if i in found]


def posts_page(ids: list[int], limit: int, prefetched: dict[int, str | None] | None = None) -> dict[str, Any]:
    """A page from limit + 1 post ids; the cursor follows the ids, so deleted posts never stall paging."""
    result = page([{"id": i} for i in ids], limit)
    result["items"] = posts_json([item["id"] for item in result["items"]], prefetched)
    return result


def comments_json(comments: list[Comment]) -> list[dict[str, Any]]:
    authors = profiles([c.author_id for c in comments])
    return [
        {
            "id": c.id,
            "post_id": c.post_id,
            "author": user_lite(authors[c.author_id]),
            "body": c.body,
            "html": c.html,
            "created_at": iso(c.created_at),
        }
        for c in comments
    ]


def notification_json(note: Notification) -> dict[str, Any]:
    return {
        "id": note.id,
        "kind": note.kind,
        "actor": {"id": note.actor.id, "username": note.actor.username, "display_name": note.actor.display_name},
        "post_id": note.post_id,
        "read": note.read,
        "created_at": iso(note.created_at),
    }
