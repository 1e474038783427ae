"""Runs ON the sandbox host, with the live release's code and environment (bench/host.py BenchHost.python).

Subcommands, each printing one `BENCH_JSON {...}` line:
  seed-feed                a reader following 100 authors with 1,000 posts between them; session cookies
  seed-listeners N         N users following one announcer; their session cookies
  broadcast                a post by the announcer, fanned out through Celery as the API does it; returns
                           BROADCAST_STAY_S after the hand-off, not at once (see there)
  checksum                 row counts and digests of every table, and of every upload file
  posts-exist ID,ID,...    which of these post ids are in the database
  drain-queue SECONDS      wait (up to SECONDS) until Celery has no task queued or running; how long it took

The data goes in with bulk inserts (like server/bench/fanout.py): the API's register endpoint is rate
limited per client address, and 1,000 logins through it would measure the limiter, not the site.
Session cookies are signed with the app's own serializer, exactly as a login sets them.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from raindrop_server import create_app
from raindrop_server.extensions import db
from raindrop_server.models import Follow, Post, User
from raindrop_server.sessions import SIGNED_AT_KEY
from raindrop_server.tasks import fan_out_post
from raindrop_server.text import render_markdown

AUTHORS = 100
POSTS_PER_AUTHOR = 10
PREFIX = "bench_"
# How long `broadcast` stays after handing its post to Celery. The API's web process goes on serving after a post;
# this process would exit, and its exit (the interpreter unloading the whole app, then the ssh session closing)
# took the cores from the broadcast it was timing. Measured on the bench host with 5,000 clients: exiting at once,
# seven broadcasts had p99 400-707 ms, and in two of them the worker's first queries (Celery runs at niceness 10)
# took 108-140 ms instead of 9-17; staying, six had p99 268-327 ms. The slowest deliveries measured on the slowest
# days took 1.6 s, and the clients stamp arrivals whenever they come.
BROADCAST_STAY_S = 5.0


def emit(result: dict[str, Any]) -> None:
    print("BENCH_JSON " + json.dumps(result), flush=True)


def cookie(app: Any, user_id: int) -> str:
    """The Cookie header value a login for this user sets."""
    session = {"user_id": user_id, "_permanent": True, SIGNED_AT_KEY: int(time.time())}
    value = app.session_interface.get_signing_serializer(app).dumps(session)
    return f"{app.config['SESSION_COOKIE_NAME']}={value}"


def ensure_users(names: list[str]) -> dict[str, int]:
    """User ids by name, inserting the missing ones (no usable password: they log in by cookie)."""
    existing = dict(db.session.execute(sa.select(User.username, User.id).where(User.username.in_(names))).all())
    missing = [n for n in names if n not in existing]
    if missing:
        db.session.execute(
            sa.insert(User),
            [{"username": n, "email": f"{n}@bench.invalid", "password_hash": "!", "display_name": n, "bio": ""}
             for n in missing],
        )  # fmt: skip
        db.session.commit()
        existing = dict(db.session.execute(sa.select(User.username, User.id).where(User.username.in_(names))).all())
    return existing


def ensure_follows(follower_ids: list[int], followee_ids: list[int]) -> None:
    pairs = {(f, e) for f in follower_ids for e in followee_ids}
    have = set(
        db.session.execute(
            sa.select(Follow.follower_id, Follow.followee_id).where(
                Follow.follower_id.in_(follower_ids), Follow.followee_id.in_(followee_ids)
            )
        ).all()
    )
    missing = sorted(pairs - have)
    if missing:
        db.session.execute(sa.insert(Follow), [{"follower_id": f, "followee_id": e} for f, e in missing])
        db.session.commit()


def seed_feed(app: Any) -> dict[str, Any]:
    authors = ensure_users([f"{PREFIX}a{i:03d}" for i in range(AUTHORS)])
    reader = ensure_users([f"{PREFIX}reader"])[f"{PREFIX}reader"]
    author_ids = sorted(authors.values())
    ensure_follows([reader], author_ids)
    counts = dict(
        db.session.execute(
            sa.select(Post.author_id, sa.func.count()).where(Post.author_id.in_(author_ids)).group_by(Post.author_id)
        ).all()
    )
    rows = []
    for author in author_ids:
        for n in range(counts.get(author, 0), POSTS_PER_AUTHOR):
            text = f"bench post {n} of author {author}: *markdown* with a [link](https://example.invalid/{n})"
            rows.append({"author_id": author, "body": text, "html": render_markdown(text)})
    if rows:
        db.session.execute(sa.insert(Post), rows)
        db.session.commit()
    posts = db.session.scalar(sa.select(sa.func.count()).select_from(Post).where(Post.author_id.in_(author_ids)))
    return {
        "reader_id": reader,
        "reader_cookie": cookie(app, reader),
        "writer_cookie": cookie(app, author_ids[0]),
        "authors": len(author_ids),
        "posts": posts,
        "inserted_posts": len(rows),
    }


def seed_listeners(app: Any, count: int) -> dict[str, Any]:
    announcer = ensure_users([f"{PREFIX}announcer"])[f"{PREFIX}announcer"]
    listeners = ensure_users([f"{PREFIX}l{i:05d}" for i in range(count)])
    ids = [listeners[f"{PREFIX}l{i:05d}"] for i in range(count)]
    ensure_follows(ids, [announcer])
    return {"announcer_id": announcer, "cookies": [cookie(app, i) for i in ids], "ids": ids}


def broadcast(app: Any) -> dict[str, Any]:
    announcer = db.session.scalar(sa.select(User.id).where(User.username == f"{PREFIX}announcer"))
    if announcer is None:
        raise SystemExit("no announcer: run seed-listeners first")
    # A fan-out of no post (the task's "deleted before it ran" case) first, so the clock below does not include
    # this fresh process's first publish (the broker connection, the queue's declaration): 39.5 ms against 4.3 ms
    # warm, measured here. A web process's publishes are warm. The worker finishes it before the clock starts, so
    # the post's task does not wait behind it.
    fan_out_post.delay(0)
    drain_queue(app, 30)
    text = f"broadcast at {time.time():.6f}"
    post = Post(author_id=announcer, body=text, html=render_markdown(text))
    db.session.add(post)
    db.session.commit()
    # The clock starts where the API's create_post hands the post to Celery.
    sent_at = time.time()
    fan_out_post.delay(post.id)
    time.sleep(BROADCAST_STAY_S)
    return {"post_id": post.id, "sent_at": sent_at}


def checksum(app: Any) -> dict[str, Any]:
    """Every table's rows in primary-key order, digested; and every upload's bytes."""
    tables: dict[str, Any] = {}
    for table in sorted(db.metadata.sorted_tables, key=lambda t: t.name):
        digest = hashlib.sha256()
        rows = 0
        for row in db.session.execute(sa.select(table).order_by(*table.primary_key.columns)):
            digest.update(repr(tuple(row)).encode())
            rows += 1
        tables[table.name] = {"rows": rows, "sha256": digest.hexdigest()}
    uploads: dict[str, str] = {}
    directory = Path(app.config["UPLOAD_DIR"])
    if directory.is_dir():
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                uploads[str(path.relative_to(directory))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"tables": tables, "uploads": uploads}


def posts_exist(ids: list[int]) -> dict[str, Any]:
    found: set[int] = set()
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        found.update(db.session.scalars(sa.select(Post.id).where(Post.id.in_(chunk))))
    return {"asked": len(ids), "missing": sorted(set(ids) - found)}


def drain_queue(app: Any, limit_s: float) -> dict[str, Any]:
    """Wait for the worker to finish what the last case queued, so the next case does not compete with it.

    Queued: the default queue's length on the broker. Running: what the workers say they are executing or hold
    prefetched (Celery's remote control). Not kombu's `unacked` hash: it keeps the messages a restarted worker
    had in hand until the visibility timeout (an hour) puts them back, and this would wait for those.
    """
    celery_app = app.extensions["celery"]
    queue = celery_app.conf.task_default_queue
    started = time.monotonic()
    with celery_app.connection_for_write() as connection:
        channel = connection.default_channel
        while True:
            # Declared as Celery's own publisher declares it: a passive declare fails on an empty one, which
            # kombu's Redis transport cannot tell from a missing one (the list's key goes when it empties).
            queued = channel.queue_declare(queue=queue).message_count
            running = None if queued else _running(celery_app)
            waited = time.monotonic() - started
            if (queued == 0 and running == 0) or waited >= limit_s:
                return {"waited_s": round(waited, 2), "queued": queued, "running": running}
            time.sleep(0.2)


def _running(celery_app: Any) -> int | None:
    """Tasks the workers are executing or hold prefetched; None if no worker answered."""
    inspector = celery_app.control.inspect(timeout=1.0)
    active, reserved = inspector.active(), inspector.reserved()
    if active is None or reserved is None:
        return None
    return sum(len(tasks) for replies in (active, reserved) for tasks in replies.values())


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    command, args = argv[0], argv[1:]
    app = create_app()
    with app.app_context():
        if command == "seed-feed":
            emit(seed_feed(app))
        elif command == "seed-listeners":
            emit(seed_listeners(app, int(args[0])))
        elif command == "broadcast":
            emit(broadcast(app))
        elif command == "checksum":
            emit(checksum(app))
        elif command == "posts-exist":
            emit(posts_exist([int(i) for i in args[0].split(",") if i] if args else []))
        elif command == "drain-queue":
            emit(drain_queue(app, float(args[0])))
        else:
            raise SystemExit(f"unknown subcommand {command!r}\n{__doc__}")


if __name__ == "__main__":
    main(sys.argv[1:])
