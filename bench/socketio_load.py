"""Many concurrent Socket.IO clients (python-socketio's asyncio client, websocket transport only) spread over
several client processes, then the time one broadcast takes to reach them all.

Each client logs in with its own session cookie, so the server puts it in its own room `user:{id}`; the
broadcast is a post by a user they all follow, fanned out by Celery as the API does it, so it travels
Celery → Redis message queue → gunicorn → every websocket. The host stamps the moment it hands the post
to Celery (`sent_at`); the clients stamp arrival. Both clocks are this machine's kernel clock (the
sandbox is a namespace on it), so the difference is the delivery time.

One asyncio process holds a few thousand sockets at most before its own event loop is the bottleneck, so the
clients are split over `processes` processes. The parent waits until every process has connected its share,
probes /api/health while they are all held, triggers the broadcast, and collects each process's arrivals.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import resource
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

CONNECT_CONCURRENCY = 50  # per client process
HEALTH_PROBES = 30
DEFAULT_PROCESSES = 4


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


async def _hold(base_url: str, cookies: list[str], pipe: Connection, wait_s: float) -> None:
    import socketio

    arrivals: list[dict[int, float]] = [{} for _ in cookies]
    disconnected: set[int] = set()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def open_client(index: int, cookie: str) -> Any:
        client = socketio.AsyncClient(reconnection=False, handle_sigint=False)

        @client.on("feed:new")
        async def on_post(post: dict[str, Any]) -> None:
            arrivals[index].setdefault(int(post["id"]), time.time())

        @client.on("disconnect")
        async def on_disconnect(*_reason: object) -> None:
            disconnected.add(index)

        async with gate:
            await client.connect(base_url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=30)
        return client

    opened = await asyncio.gather(*(open_client(i, c) for i, c in enumerate(cookies)), return_exceptions=True)
    clients = {i: c for i, c in enumerate(opened) if not isinstance(c, BaseException)}
    failures = [f"{type(e).__name__}: {e}" for e in opened if isinstance(e, BaseException)]
    pipe.send({"connected": len(clients), "failures": failures})
    cpu_before = time.process_time()
    # Wait for the parent's go (the broadcast was triggered) without blocking the event loop.
    message = await asyncio.to_thread(pipe.recv)
    post_id = int(message["post_id"])
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if all(post_id in arrivals[i] for i in clients if i not in disconnected):
            break
        await asyncio.sleep(0.05)
    received = {i: arrivals[i][post_id] for i in clients if post_id in arrivals[i]}
    missed = [i for i in clients if post_id not in arrivals[i]]
    pipe.send(
        {
            "arrivals": list(received.values()),
            "missed": len(missed),
            "disconnected_meanwhile": len(disconnected),
            "cpu_s": time.process_time() - cpu_before,
        }
    )
    with contextlib.suppress(Exception):
        await asyncio.gather(*(c.disconnect() for c in clients.values()), return_exceptions=True)


def _child(base_url: str, cookies: list[str], pipe: Connection, wait_s: float) -> None:
    raise_fd_limit(len(cookies) + 256)
    try:
        asyncio.run(_hold(base_url, cookies, pipe, wait_s))
    finally:
        pipe.close()


def _health_probes(base_url: str, count: int) -> dict[str, Any]:
    """`count` sequential GETs of /api/health while every client is held: p99 and failures."""
    seconds: list[float] = []
    failed = 0
    for _ in range(count):
        started = time.monotonic()
        try:
            with urllib.request.urlopen(base_url + "/api/health", timeout=5) as response:  # noqa: S310 - our sandbox
                ok = response.status == 200
        except (OSError, urllib.error.URLError):
            ok = False
        seconds.append(time.monotonic() - started)
        failed += not ok
        time.sleep(0.05)
    return {
        "probes": count,
        "failed": failed,
        "p50_ms": _round(statistics.median(seconds) * 1000),
        "p99_ms": _round((_percentile(seconds, 0.99) or 0) * 1000),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def measure(
    base_url: str,
    cookies: list[str],
    trigger: Callable[[], dict[str, Any]],
    wait_s: float = 30.0,
    processes: int = DEFAULT_PROCESSES,
    health_probes: int = HEALTH_PROBES,
    server_cpu: Callable[[], dict[int, float]] | None = None,
) -> dict[str, Any]:
    """Connect one client per cookie over `processes` processes, probe health, call `trigger` (which returns
    post_id and sent_at), then collect.

    `refused` counts the clients that never connected; `dropped` those connected that did not get the post
    within `wait_s`. `server_cpu` (the web processes' CPU seconds by pid, as BenchHost.cpu_seconds gives them),
    read around the broadcast, splits its CPU time between the server and the clients: here both share the
    host's cores, and a client's own work delays the arrival it stamps.
    """
    base_url = base_url.rstrip("/")
    processes = max(1, min(processes, len(cookies)))
    shares = [cookies[n::processes] for n in range(processes)]
    context = multiprocessing.get_context("spawn")  # no threads or sockets of this process in the children
    pipes, children = [], []
    started = time.monotonic()
    for share in shares:
        ours, theirs = context.Pipe()
        child = context.Process(target=_child, args=(base_url, share, theirs, wait_s), daemon=True)
        child.start()
        theirs.close()
        pipes.append(ours)
        children.append(child)
    try:
        held = [pipe.recv() for pipe in pipes]
        connect_seconds = time.monotonic() - started
        connected = sum(h["connected"] for h in held)
        failures = [f for h in held for f in h["failures"]]
        health = _health_probes(base_url, health_probes)
        server_before = server_cpu() if server_cpu else {}
        sent = trigger()
        post_id, sent_at = int(sent["post_id"]), float(sent["sent_at"])
        for pipe in pipes:
            pipe.send({"post_id": post_id})
        reports = [pipe.recv() for pipe in pipes]
        server_after = server_cpu() if server_cpu else {}
    finally:
        for child in children:
            child.join(timeout=60)
            if child.is_alive():
                child.kill()
    latencies = [(arrived - sent_at) * 1000 for report in reports for arrived in report["arrivals"]]
    missed = sum(r["missed"] for r in reports)
    server_s = sum(seconds - server_before.get(pid, 0.0) for pid, seconds in server_after.items())
    client_s = sum(r["cpu_s"] for r in reports)
    return {
        "clients": len(cookies),
        "client_processes": processes,
        "connected": connected,
        "refused": len(failures),
        "refused_examples": sorted(set(failures))[:3],
        "connect_seconds": round(connect_seconds, 2),
        "connect_rate_per_s": round(connected / connect_seconds, 1) if connect_seconds else None,
        "health_while_held": health,
        "received": len(latencies),
        "dropped": missed,
        "disconnected_meanwhile": sum(r["disconnected_meanwhile"] for r in reports),
        "latency_ms": {
            # The first arrival separates what happens before any client is written to (Celery, the message
            # queue) from the spread of writing to them all.
            "first": _round(min(latencies) if latencies else None),
            "p50": _round(statistics.median(latencies) if latencies else None),
            "p99": _round(_percentile(latencies, 0.99)),
            "max": _round(max(latencies) if latencies else None),
        },
        # CPU milliseconds per delivered message, from trigger to the last report (pings and health probes
        # included): the web processes' (None without server_cpu) and the bench's client processes'.
        "cpu_ms_per_message": {
            "server": round(server_s * 1000 / len(latencies), 3) if server_cpu and latencies else None,
            "clients": round(client_s * 1000 / len(latencies), 3) if latencies else None,
        },
    }
