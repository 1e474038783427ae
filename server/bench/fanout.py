"""Benchmark: how long fanning one post out to N followers (default 10,000) takes. Target: under 2 s.

Runs against the test MariaDB and Redis (scripts/services-up.sh), in a database of its own that it
drops at the end. Every follower has a timeline in Redis (the worst case: all get written) and a
tenth of them are online (they get the feed:new emit).

    python server/bench/fanout.py [--followers 10000] [--rounds 5]

It prints two figures: the task body run in this process, and the whole path through a real
`celery worker` process (enqueue -> the last follower's timeline holds the post).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from flask_migrate import upgrade
from raindrop_server import create_app, presence, timeline
from raindrop_server.config import config_from_env
from raindrop_server.extensions import KEY_PREFIX, db, get_redis
from raindrop_server.models import Follow, Post, User
from raindrop_server.tasks import fan_out_post
from raindrop_server.text import render_markdown
from sqlalchemy.engine import make_url

DATABASE_URL = os.environ.get(
    "RAINDROP_TEST_DATABASE_URL", "mysql+pymysql://raindrop_test:raindrop_test@127.0.0.1:3306/?charset=utf8mb4"
)
REDIS_URL = os.environ.get("RAINDROP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")


def seed(followers: int) -> tuple[int, list[int]]:
    """One author and `followers` users following them; returns (author id, follower ids)."""
    db.session.execute(
        sa.insert(User),
        [
            {"username": f"u{i}", "email": f"u{i}@bench.invalid", "password_hash": "-", "display_name": "", "bio": ""}
            for i in range(followers + 1)
        ],
    )
    ids = list(db.session.scalars(sa.select(User.id).order_by(User.id)))
    author, rest = ids[0], ids[1:]
    db.session.execute(sa.insert(Follow), [{"follower_id": f, "followee_id": author} for f in rest])
    db.session.commit()
    return author, rest


def new_post(author: int, text: str) -> int:
    post = Post(author_id=author, body=text, html=render_markdown(text))
    db.session.add(post)
    db.session.commit()
    return post.id


def warm(user_ids: list[int], online_every: int) -> None:
    """Give every follower a built timeline and mark some online, as after they had read their feed."""
    redis = get_redis()
    pipe = redis.pipeline(transaction=False)
    for user_id in user_ids:
        pipe.zadd(timeline.feed_key(user_id), {"0": 0})
    for user_id in user_ids[::online_every]:
        pipe.hset(presence.ONLINE_KEY, str(user_id), 1)
    pipe.execute()


def in_process(author: int, rounds: int) -> list[float]:
    times = []
    for i in range(rounds):
        post_id = new_post(author, f"in-process post {i}")
        start = time.perf_counter()
        fan_out_post.run(post_id)
        times.append(time.perf_counter() - start)
    return times


def through_worker(app, env: dict[str, str], author: int, last_follower: int, rounds: int) -> list[float]:  # noqa: ANN001
    redis = app.extensions["redis"]
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "celery"), "-A", "raindrop_server.worker:celery", "worker",
         "--pool=solo", "--without-gossip", "--without-mingle", "--loglevel=WARNING"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        times = []
        key = timeline.feed_key(last_follower)
        for i in range(rounds + 1):  # the first round warms the worker up and is not counted
            post_id = new_post(author, f"worker post {i}")
            start = time.perf_counter()
            fan_out_post.delay(post_id)
            while redis.zscore(key, str(post_id)) is None:
                if worker.poll() is not None:
                    raise SystemExit("the celery worker exited")
                time.sleep(0.002)
            if i:
                times.append(time.perf_counter() - start)
        return times
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def report(label: str, times: list[float]) -> None:
    print(f"{label}: median {statistics.median(times):.3f} s, max {max(times):.3f} s over {len(times)} rounds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--online-every", type=int, default=10, help="every Nth follower is online")
    args = parser.parse_args()

    name = f"raindrop_test_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(make_url(DATABASE_URL).set(database=None))
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    env = {
        **os.environ,
        "RAINDROP_SECRET_KEY": uuid.uuid4().hex,
        "RAINDROP_DATABASE_URL": make_url(DATABASE_URL).set(database=name).render_as_string(hide_password=False),
        "RAINDROP_REDIS_URL": REDIS_URL,
        "RAINDROP_SOCKETIO_CHANNEL": f"raindrop-{name}",
    }
    app = create_app(config_from_env(env))
    try:
        with app.app_context():
            upgrade()
            redis = app.extensions["redis"]
            redis.delete(*redis.keys(f"{KEY_PREFIX}*") or ["-"])
            app.extensions["celery"].control.purge()
            author, followers = seed(args.followers)
            warm(followers, args.online_every)
            print(f"fan-out of one post to {len(followers)} followers ({len(followers) // args.online_every} online)")
            report("task body in this process", in_process(author, args.rounds))
            report("through a celery worker  ", through_worker(app, env, author, followers[-1], args.rounds))
            redis.delete(*redis.keys(f"{KEY_PREFIX}*") or ["-"])
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))


if __name__ == "__main__":
    main()
