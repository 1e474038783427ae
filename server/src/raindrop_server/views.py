"""The JSON shapes of docs/contracts.md, loaded in batches and through the cache."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

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


def profiles(ids: list[int]) -> dict[int, dict[str, Any]]:
    return cache.get_many(list(dict.fromkeys(ids)), cache.user_key, _load_profiles)


def user_lite(profile: dict[str, Any]) -> dict[str, Any]:
    return {"id": profile["id"], "username": profile["username"], "display_name": profile["display_name"]}


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


def _load_posts(ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = db.session.scalars(sa.select(Post).where(Post.id.in_(ids))).all()
    return {
        p.id: {
            "id": p.id,
            "author_id": p.author_id,
            "body": p.body,
            "html": p.html,
            "image_url": p.image_url,
            "created_at": iso(p.created_at),
            "comment_count": p.comment_count,
        }
        for p in rows
    }


def posts_json(ids: list[int]) -> list[dict[str, Any]]:
    """Posts in the order of ids; ids of deleted posts are skipped."""
    found = cache.get_many(ids, cache.post_key, _load_posts)
    authors = profiles([found[i]["author_id"] for i in ids if i in found])
    items = []
    for post_id in ids:
        if post_id not in found:
            continue
        post = dict(found[post_id])
        post["author"] = user_lite(authors[post.pop("author_id")])
        items.append(post)
    return items


def posts_page(ids: list[int], limit: int) -> dict[str, Any]:
    """A page from limit + 1 post ids; the cursor follows the ids, so deleted posts never stall paging."""
    result = page([{"id": i} for i in ids], limit)
    result["items"] = posts_json([item["id"] for item in result["items"]])
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
