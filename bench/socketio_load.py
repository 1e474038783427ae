"""Many concurrent Socket.IO clients (the official socket.io-client on Node, websocket transport only) spread
over several client processes, then the time one broadcast takes to reach them all.

Each client logs in with its own session cookie, so the server puts it in its own room `user:{id}`; the
broadcast is a post by a user they all follow, fanned out by Celery as the API does it, so it travels
Celery → Redis message queue → gunicorn → every websocket. The host stamps the moment it hands the post
to Celery (`sent_at`); the clients stamp arrival. Both clocks are this machine's kernel clock (the
sandbox is a namespace on it), so the difference is the delivery time.

The clients are split over `processes` Node processes (bench/socketio_clients.mjs, which says why Node). The
parent waits until every process has connected its share, probes /api/health while they are all held, triggers
the broadcast, collects each process's arrivals, and probes /api/health again while they all leave.
"""

from __future__ import annotations

import json
import resource
import shutil
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.host import cpu_spent

CONNECT_CONCURRENCY = 50  # per client process
HEALTH_PROBES = 30
# How often the web processes' CPU counters are read while the broadcast travels, so that its CPU time can be taken
# between the readings around the first hand-off and the last arrival (the trigger returns seconds later).
CPU_SAMPLE_S = 0.02
DEFAULT_PROCESSES = 4
CLIENTS_SCRIPT = Path(__file__).with_name("socketio_clients.mjs")
# Where the script takes socket.io-client from: the Angular client's own install (make client/node_modules/.installed).
CLIENT_PACKAGE = Path(__file__).resolve().parent.parent / "client" / "node_modules" / "socket.io-client"


class ClientProcessError(RuntimeError):
    """A client process could not start, or ended without its report."""


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


def _start_clients(base_url: str, cookies: list[str], wait_s: float) -> subprocess.Popen[str]:
    node = shutil.which("node")
    if node is None:
        raise ClientProcessError("node is not on PATH: the Socket.IO clients run on Node (bench/socketio_clients.mjs)")
    if not CLIENT_PACKAGE.is_dir():
        raise ClientProcessError(f"{CLIENT_PACKAGE} is missing: run `make client/node_modules/.installed`")
    process = subprocess.Popen([node, str(CLIENTS_SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    settings = {"base_url": base_url, "cookies": cookies, "connect_concurrency": CONNECT_CONCURRENCY, "wait_s": wait_s}
    _tell(process, settings)
    return process


def _tell(process: subprocess.Popen[str], message: dict[str, Any]) -> None:
    assert process.stdin is not None
    process.stdin.write(json.dumps(message) + "\n")
    process.stdin.flush()


def _hear(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise ClientProcessError(f"client process {process.pid} ended (exit {process.wait()}) without its report")
    return json.loads(line)


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


class _CpuSamples:
    """`read()` (the web processes' CPU seconds by pid) every CPU_SAMPLE_S on a thread, from start() to stop()."""

    def __init__(self, read: Callable[[], dict[int, float]]) -> None:
        self._read = read
        self._samples: list[tuple[float, dict[int, float]]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self._samples.append((time.time(), self._read()))
            if self._done.wait(CPU_SAMPLE_S):
                self._samples.append((time.time(), self._read()))
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def seconds_between(self, start: float, end: float) -> float | None:
        return cpu_between(self._samples, start, end)


def cpu_between(samples: list[tuple[float, dict[int, float]]], start: float, end: float) -> float | None:
    """CPU seconds (bench.host.cpu_spent) from the last reading at or before `start` to the first at or after
    `end`, out of (time, {pid: CPU seconds}) readings in time order; None without a reading on either side."""
    before = [reading for at, reading in samples if at <= start]
    after = [reading for at, reading in samples if at >= end]
    if not before or not after:
        return None
    return cpu_spent(before[-1], after[0])


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
    within `wait_s`. `server_cpu` (the web processes' CPU seconds by pid, as BenchHost.cpu_reader gives them,
    cheap enough to read every CPU_SAMPLE_S) splits the broadcast's CPU time between the server and the clients:
    here both share the host's cores, and a client's own work delays the arrival it stamps. Both are taken from
    the hand-off to the last arrival, not over the whole trigger (which stays on after the hand-off).
    """
    base_url = base_url.rstrip("/")
    processes = max(1, min(processes, len(cookies)))
    shares = [cookies[n::processes] for n in range(processes)]
    raise_fd_limit(len(cookies) // processes + 256)  # the client processes inherit it
    children: list[subprocess.Popen[str]] = []
    started = time.monotonic()
    try:
        children.extend(_start_clients(base_url, share, wait_s) for share in shares)
        held = [_hear(child) for child in children]
        connect_seconds = time.monotonic() - started
        connected = sum(h["connected"] for h in held)
        failures = [f for h in held for f in h["failures"]]
        health = _health_probes(base_url, health_probes)
        samples = _CpuSamples(server_cpu) if server_cpu else None
        if samples:
            samples.start()
        try:
            sent = trigger()
            post_id, sent_at = int(sent["post_id"]), float(sent["sent_at"])
            for child in children:
                _tell(child, {"post_id": post_id})
            reports = [_hear(child) for child in children]
        finally:
            if samples:
                samples.stop()
    finally:
        for child in children:
            try:
                child.stdin.close()  # a client process exits at the end of its input, report or not
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    # Every client has just left: the server is handling thousands of disconnects at once (a disconnect that
    # scanned every room stalled each process for seconds), and the site should still answer meanwhile.
    leaving = _health_probes(base_url, health_probes)
    latencies = [(arrived - sent_at) * 1000 for report in reports for arrived in report["arrivals"]]
    missed = sum(r["missed"] for r in reports)
    last_arrival = max((arrived for report in reports for arrived in report["arrivals"]), default=None)
    server_s = samples.seconds_between(sent_at, last_arrival) if samples and last_arrival is not None else None
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
        "health_while_leaving": leaving,
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
        # CPU milliseconds per delivered message, from the hand-off to the last arrival: the web processes' (None
        # without server_cpu; to within their counters' 10 ms ticks) and the bench's client processes' (each
        # from its own first arrival to its last).
        "cpu_ms_per_message": {
            "server": round(server_s * 1000 / len(latencies), 3) if server_s is not None and latencies else None,
            "clients": round(client_s * 1000 / len(latencies), 3) if latencies else None,
        },
    }
