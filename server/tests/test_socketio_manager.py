"""RoomIndexedRedisManager keeps exactly the state python-socketio's own RedisManager keeps, step by step."""

from __future__ import annotations

import itertools
from typing import Any

import socketio
from raindrop_server.socketio_manager import RoomIndexedRedisManager

URL = "redis://127.0.0.1:1/0"  # never contacted: what the managers would tell other processes is dropped


def _server(manager: socketio.RedisManager) -> socketio.Server:
    manager._publish = lambda data: None  # the other processes' half; only this process's rooms are compared
    server = socketio.Server(client_manager=manager)
    ids = itertools.count()
    server.eio.generate_id = lambda: f"s{next(ids)}"  # the same sids in both managers
    return server


def _state(manager: socketio.RedisManager) -> dict[str, Any]:
    return {
        "rooms": {ns: {room: dict(members) for room, members in rooms.items()} for ns, rooms in manager.rooms.items()},
        "callbacks": dict(manager.callbacks),
        "pending_connect": {ns: list(sids) for ns, sids in manager.pending_connect.items()},
        "pending_disconnect": {ns: list(sids) for ns, sids in manager.pending_disconnect.items()},
    }


def _index_from_rooms(manager: socketio.RedisManager) -> dict[tuple[str, str], set[str | None]]:
    index: dict[tuple[str, str], set[str | None]] = {}
    for namespace, rooms in manager.rooms.items():
        for room, members in rooms.items():
            for sid in members:
                index.setdefault((namespace, sid), set()).add(room)
    return index


def test_every_step_leaves_the_same_state_as_the_stock_manager():
    stock = socketio.RedisManager(URL, channel="t")
    ours = RoomIndexedRedisManager(URL, channel="t")
    _server(stock), _server(ours)

    steps = [
        *[("connect", f"e{i}", "/") for i in range(5)],
        ("connect", "e5", "/chat"),
        *[("enter_room", f"s{i}", "/", f"user:{i}") for i in range(5)],
        ("enter_room", "s1", "/", "shared"),
        ("enter_room", "s2", "/", "shared"),
        ("enter_room", "s5", "/chat", "user:1"),
        ("leave_room", "s1", "/", "user:1"),
        ("close_room", "shared", "/"),
        ("pre_disconnect", "s3", "/"),
        ("disconnect", "s3", "/"),
        ("disconnect", "s0", "/"),
        ("disconnect", "s0", "/"),  # twice: the second finds nothing
        ("disconnect", "nobody", "/"),
        ("disconnect", "s5", "/chat"),  # the namespace's last client: the namespace goes too
        ("disconnect", "s1", "/"),
        ("disconnect", "s2", "/"),
        ("disconnect", "s4", "/"),
    ]
    for step in steps:
        for manager in (stock, ours):
            name, *args = step
            if name == "disconnect":
                # What Server._handle_disconnect calls once a client has left (after pre_disconnect and the
                # app's handler): this process's own bookkeeping, nothing for the queue.
                manager.disconnect(*args, ignore_queue=True)
            else:
                getattr(manager, name)(*args)
        assert _state(ours) == _state(stock), step
        assert ours.rooms_of == _index_from_rooms(ours), step
    assert _state(ours) == {"rooms": {}, "callbacks": {}, "pending_connect": {}, "pending_disconnect": {}}
    assert ours.rooms_of == {}


def test_a_disconnect_looks_only_at_the_clients_own_rooms(monkeypatch):
    """The scan the stock manager makes over every room is gone: other clients' rooms are never read."""
    ours = RoomIndexedRedisManager(URL, channel="t")
    _server(ours)
    for i in range(200):
        ours.connect(f"e{i}", "/")
        ours.enter_room(f"s{i}", "/", f"user:{i}")
    names = {id(members): room for room, members in ours.rooms["/"].items()}
    looked_at: set[str | None] = set()
    bidict_type = type(ours.rooms["/"]["user:0"])
    original = bidict_type.__contains__

    def contains(members: object, key: object) -> bool:
        looked_at.add(names.get(id(members), "?"))
        return original(members, key)

    monkeypatch.setattr(bidict_type, "__contains__", contains)
    ours.disconnect("s7", "/", ignore_queue=True)
    assert looked_at <= {None, "s7", "user:7"}
    assert "user:7" not in ours.rooms["/"] and "s7" not in ours.rooms["/"]
    assert len(ours.rooms["/"]) == 1 + 2 * 199  # the namespace's own room and two rooms per remaining client


def test_the_app_uses_it_with_its_channel(app):
    manager = app.extensions["socketio"].server.manager
    assert type(manager) is RoomIndexedRedisManager
    assert manager.channel == app.config["SOCKETIO_CHANNEL"]
