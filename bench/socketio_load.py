"""Many concurrent Socket.IO clients (python-socketio's asyncio client, websocket transport only), then
the time one broadcast takes to reach them all.

Each client logs in with its own session cookie, so the server puts it in its own room `user:{id}`; the
broadcast is a post by a user they all follow, fanned out by Celery as the API does it, so it travels
Celery → Redis message queue → gunicorn → every websocket. The host stamps the moment it hands the post
to Celery (`sent_at`); the clients stamp arrival. Both clocks are this machine's kernel clock (the
sandbox is a namespace on it), so the difference is the delivery time.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import socketio

CONNECT_CONCURRENCY = 50


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def raise_fd_limit(needed: int) -> None:
    """Each client holds a socket; the default soft limit of 1024 is too few for 1,000 of them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))


async def _measure(
    base_url: str, cookies: list[str], trigger: Callable[[], dict[str, Any]], wait_s: float
) -> dict[str, Any]:
    arrivals: list[dict[int, float]] = [{} for _ in cookies]
    disconnected: set[int] = set()
    # Each client makes its own aiohttp session: engineio moves the Cookie header into the session's jar,
    # so a shared session would give every client the same login. This one is for the health probe only.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def open_client(index: int, cookie: str) -> socketio.AsyncClient:
            client = socketio.AsyncClient(reconnection=False, handle_sigint=False)

            @client.on("feed:new")
            async def on_post(post: dict[str, Any]) -> None:
                arrivals[index].setdefault(int(post["id"]), time.time())

            @client.on("disconnect")
            async def on_disconnect(*_reason: object) -> None:
                disconnected.add(index)

            async with gate:
                await client.connect(base_url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=15)
            return client

        started = time.monotonic()
        opened = await asyncio.gather(*(open_client(i, c) for i, c in enumerate(cookies)), return_exceptions=True)
        connect_seconds = time.monotonic() - started
        clients = {i: c for i, c in enumerate(opened) if isinstance(c, socketio.AsyncClient)}
        failures = [f"{type(e).__name__}: {e}" for e in opened if isinstance(e, BaseException)]

        # Does the site still answer while every client holds its connection?
        probe_started = time.monotonic()
        try:
            async with session.get(base_url + "/api/health", timeout=aiohttp.ClientTimeout(total=5)) as response:
                probe: dict[str, Any] = {"status": response.status}
        except (TimeoutError, aiohttp.ClientError) as error:
            probe = {"status": None, "error": type(error).__name__}
        probe["seconds"] = round(time.monotonic() - probe_started, 3)

        sent = await asyncio.to_thread(trigger)
        post_id, sent_at = int(sent["post_id"]), float(sent["sent_at"])
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            live = [i for i in clients if i not in disconnected]
            if all(post_id in arrivals[i] for i in live):
                break
            await asyncio.sleep(0.05)
        latencies = [(arrivals[i][post_id] - sent_at) * 1000 for i in clients if post_id in arrivals[i]]
        dropped = sorted(i for i in clients if post_id not in arrivals[i])
        with contextlib.suppress(Exception):
            await asyncio.gather(*(c.disconnect() for c in clients.values()), return_exceptions=True)
    return {
        "clients": len(cookies),
        "connected": len(clients),
        "connect_failures": len(failures),
        "connect_failure_examples": sorted(set(failures))[:3],
        "connect_seconds": round(connect_seconds, 2),
        "health_while_held": probe,
        "received": len(latencies),
        "dropped": len(dropped) + len(failures),
        "disconnected_meanwhile": len(disconnected & set(dropped)),
        "latency_ms": {
            "p50": _round(statistics.median(latencies) if latencies else None),
            "p99": _round(_percentile(latencies, 0.99)),
            "max": _round(max(latencies) if latencies else None),
        },
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def measure(
    base_url: str, cookies: list[str], trigger: Callable[[], dict[str, Any]], wait_s: float = 15.0
) -> dict[str, Any]:
    """Connect one client per cookie, call `trigger` (which returns post_id and sent_at), then collect.

    `dropped` counts the clients that never connected or did not get the post within `wait_s`.
    """
    raise_fd_limit(len(cookies) + 256)
    return asyncio.run(_measure(base_url.rstrip("/"), cookies, trigger, wait_s))
