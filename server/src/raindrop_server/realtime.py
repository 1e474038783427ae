"""Socket.IO: each logged-in connection joins the room user:{id}; the session cookie authenticates."""

from __future__ import annotations

from flask import session
from flask_socketio import ConnectionRefusedError, join_room

from raindrop_server import presence
from raindrop_server.auth import current_user_id
from raindrop_server.extensions import socketio


@socketio.on("connect")
def on_connect(auth: object = None) -> None:
    user_id = current_user_id()
    if user_id is None:
        raise ConnectionRefusedError("login required")
    join_room(presence.room(user_id))
    presence.connected(user_id)


@socketio.on("disconnect")
def on_disconnect(reason: object = None) -> None:
    user_id = session.get("user_id")
    if user_id:
        presence.disconnected(user_id)
