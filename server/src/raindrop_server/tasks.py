"""Celery tasks. Each one is idempotent: running it twice leaves the same state (a repeated emit
carries the same ids, which the client de-duplicates)."""

from __future__ import annotations

from celery import shared_task

from raindrop_server import presence, timeline
from raindrop_server.extensions import db, socketio
from raindrop_server.models import Notification
from raindrop_server.views import notification_json, posts_json


# acks_late: a worker that dies mid fan-out leaves the message to be redelivered after the
# broker's visibility timeout, instead of losing the post from thousands of timelines.
@shared_task(acks_late=True)
def fan_out_post(post_id: int) -> int:
    """Put a new post on its author's and followers' timelines and tell those online."""
    posts = posts_json([post_id])
    if not posts:
        return 0  # deleted before the task ran
    post = posts[0]
    recipients = [post["author"]["id"], *timeline.followers_of(post["author"]["id"])]
    # Those online first (the event carries the post itself, so a client needs no timeline to show it), then the
    # timelines: pushing to thousands of them took 13 ms of a 45 ms fan-out that the live clients waited out.
    online = presence.online_among(recipients)
    if online:
        # One message on the queue for all rooms, not one per follower.
        socketio.emit("feed:new", post, to=[presence.room(u) for u in online])
    timeline.push(recipients, post_id)
    return len(recipients)


@shared_task(acks_late=True)
def remove_post_from_feeds(post_id: int, author_id: int) -> None:
    timeline.remove([author_id, *timeline.followers_of(author_id)], post_id)


@shared_task
def push_notification(notification_id: int) -> bool:
    note = db.session.get(Notification, notification_id)
    if note is None:
        return False
    socketio.emit("notification", notification_json(note), to=presence.room(note.user_id))
    return True
