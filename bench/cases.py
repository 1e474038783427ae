"""The HTTP cases of the bench, what they need on the host, and the deploy/redeploy timings.

(a) a 1 KB static file from nginx, (b) a cheap API GET, (c) the feed of a reader following 100 authors
with 1,000 posts between them, (d) post creation (fan-out through Celery). Each runs at every
connection count (in `http_plan`'s order); a short warm-up run before each is not recorded.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.sandbox.deploy import deploy
from app.steps.shell import q
from bench import openloop, wrk
from bench.host import BenchHost, HostError, cpu_spent, is_gunicorn, log

STATIC_NAME = "bench-1k.txt"
STATIC_BYTES = 1024
# The framework ceiling: a GET that does no I/O (no database, no Redis). /api/health is not trivial: it
# probes MariaDB, Redis and the Celery broker on every call, about 8x slower.
API_PATH = "/api/openapi.json"
WARMUP_SECONDS = 2
WARMUP_CONNECTIONS = 8
# How long a case that queues Celery tasks may take to have them done, after each run (see `drain_queue`).
DRAIN_LIMIT_S = 180.0


@dataclass(frozen=True)
class Case:
    key: str  # a, b, c, d
    label: str
    request: wrk.Request
    queues_tasks: bool = False  # each request queues a Celery task (the fan-out)


def place_static_file(host: BenchHost) -> None:
    """A 1 KB file in the live release's client root, which nginx serves as it is (no gzip asked)."""
    root = host.variables["raindrop_client_root"]
    line = ("raindrop bench static file " * 40)[: STATIC_BYTES - 1] + "\n"
    host.run("bench-static-file", f"printf '%s' {q(line)} > {root}/{STATIC_NAME}\nchmod 644 {root}/{STATIC_NAME}")


def prepare(host: BenchHost) -> dict[str, Any]:
    """The static file and the feed data; returns the seed's figures and session cookies."""
    place_static_file(host)
    seeded = host.python("hostside.py", "seed-feed")
    log(f"seeded: {seeded['authors']} authors, {seeded['posts']} posts (inserted {seeded['inserted_posts']} now)")
    return seeded


def cases(host: BenchHost, seeded: dict[str, Any]) -> list[Case]:
    body = json.dumps({"body": "a bench post: the write path with fan-out"})
    return [
        Case("a", "(a) static 1 KB", wrk.Request(host.url(f"/{STATIC_NAME}"))),
        Case("b", f"(b) API GET {API_PATH}", wrk.Request(host.url(API_PATH))),
        Case("c", "(c) feed, 100 followed", wrk.Request(host.url("/api/feed"), cookie=seeded["reader_cookie"])),
        Case(
            "d",
            "(d) create post",
            wrk.Request(host.url("/api/posts"), "POST", body, seeded["writer_cookie"]),
            queues_tasks=True,
        ),
    ]


def web_cpu_ms(host: BenchHost, before: dict[int, float], requests: int) -> float | None:
    """CPU milliseconds the web processes spent per request since `before` (a host.cpu_seconds() reading)."""
    spent = cpu_spent(before, host.cpu_seconds())
    return round(spent * 1000 / requests, 3) if requests else None


def drain_queue(host: BenchHost, case: Case) -> float | None:
    """Wait for the worker to finish the tasks `case` queued, so the run after it (this case at the next connection
    count, or the next case) does not share the cores with that backlog. Returns the seconds waited, of which the
    workers' remote-control replies take about 2 s."""
    if not case.queues_tasks:
        return None
    drained = host.python("hostside.py", "drain-queue", str(DRAIN_LIMIT_S))
    if drained["queued"]:
        left = f"{drained['queued']} tasks still queued"
    elif drained["running"] is None:
        left = "no Celery worker answered the inspect"
    elif drained["running"]:
        left = f"{drained['running']} tasks still running"
    else:
        return drained["waited_s"]
    raise HostError(f"{case.label}: after {DRAIN_LIMIT_S:g} s, {left}")


def http_plan(the_cases: dict[str, Case], connections: Sequence[int]) -> list[tuple[Case, list[int]]]:
    """The order of the HTTP runs, as (case, its connection counts) for `measure`: (a) at each count, then (b) and
    (c) side by side at each count, then (d) at each count.

    (c)/(b) at each count is a target, and this machine's speed drifts within a run: runs next to each other
    share more of it. (d) comes last because its posts go into the feed that (c) reads."""
    side_by_side = [(the_cases[key], [count]) for count in connections for key in ("b", "c")]
    return [(the_cases["a"], list(connections)), *side_by_side, (the_cases["d"], list(connections))]


def measure(
    host: BenchHost, case: Case, connections: list[int], seconds: float, label_suffix: str = ""
) -> list[dict[str, Any]]:
    """wrk at each connection count, each with the web processes' CPU time per request."""
    runs = []
    wrk.run(case.request, label=f"warm-up {case.key}", connections=WARMUP_CONNECTIONS, seconds=WARMUP_SECONDS)
    drain_queue(host, case)
    for count in connections:
        before = host.cpu_seconds()
        result = wrk.run(case.request, label=case.label + label_suffix, connections=count, seconds=seconds)
        data = {
            **result.as_dict(),
            "case": case.key,
            "web_cpu_ms_per_request": web_cpu_ms(host, before, result.requests),
            "queue_drained_after_s": drain_queue(host, case),
        }
        waited = data["queue_drained_after_s"]
        drained = "" if waited is None else f", the Celery queue drained {waited} s after"
        log(
            f"{data['label']} @ {count}: {data['rps']} rps, p50 {data['p50_ms']} ms, p99 {data['p99_ms']} ms, "
            f"{data['error_count']} errors, {data['web_cpu_ms_per_request']} web CPU-ms/request{drained}"
        )
        runs.append(data)
    return runs


def open_loop(
    host: BenchHost, case: Case, seconds: float, rates: Sequence[int] = openloop.RATES, label_suffix: str = ""
) -> dict[str, Any]:
    """The highest fixed arrival rate at which the case keeps p99 < 100 ms with no error (bench/openloop.py)."""
    log(f"{case.label}{label_suffix}: open loop, {seconds:g} s per rate")
    return {
        "case": case.key,
        "label": case.label + label_suffix,
        **openloop.highest_rate(
            case.request, seconds=seconds, rates=rates, log=log, between=lambda: drain_queue(host, case)
        ),
    }


def kill_one_web_process(host: BenchHost, request: wrk.Request, connections: int = 32) -> dict[str, Any]:
    """kill -9 of the first gunicorn process (master and worker) while wrk reads; the requests that failed.

    nginx must pass the GETs the dead process held, and every new one, to the other processes.
    """
    port = host.variables["raindrop_gunicorn_first_port"]
    bind = f"--bind 127.0.0.1:{port}"

    def of_port(cmdline: str, uid: int) -> bool:
        return is_gunicorn(cmdline, uid) and cmdline.rstrip().endswith(bind)

    pids = host.pids(of_port)
    if not pids:
        raise HostError(f"no gunicorn process binds 127.0.0.1:{port} on the host")
    with wrk.Background(request, label="load during kill -9 of one web process", connections=connections) as load:
        time.sleep(3)
        host.kill(pids)
        started = time.monotonic()
        back = None
        while time.monotonic() - started < 60:
            if set(host.pids(of_port)) - set(pids) and host.healthy():
                back = time.monotonic() - started
                break
            time.sleep(0.2)
        time.sleep(3)  # the restarted process takes its share again
        result = load.stop()
    return {
        "killed_pids": len(pids),
        "port": port,
        "restarted_after_s": None if back is None else round(back, 2),
        "requests": result.requests,
        "failed_requests": result.error_count,
        "errors": result.errors,
        "rps": round(result.rps, 1),
        "p99_ms": result.latency_ms["p99"],
    }


# -- deploys -------------------------------------------------------------------------------------------------

_SCRIPT_DONE = re.compile(r"<-- (\S+) exit (\d+) \(([\d.]+)s\)")
_UPLOAD_DONE = re.compile(r"<-- upload done \(([\d.]+)s\)")
# The deploy script stamps its steps with its own clock: "==> [7s] healthy: http://...".
_DEPLOY_HEALTHY = re.compile(r"\[deploy\] ==> \[(\d+)s\] healthy:")


class StepTimes:
    """Collects the executor's per-script timings from the sandbox's log lines while printing them."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, line: str) -> None:
        log(line.strip())
        if match := _SCRIPT_DONE.search(line):
            self.seconds[match[1]] = float(match[3])
        elif match := _UPLOAD_DONE.search(line):
            self.seconds["upload"] = float(match[1])
        elif match := _DEPLOY_HEALTHY.search(line):
            self.seconds["deploy_healthy_at"] = float(match[1])


def timed_deploy(host: BenchHost, release: Any) -> tuple[float, dict[str, float], Exception | None]:
    """Deploy `release` with the sandbox's deploy (secrets → provision → upload → deploy).

    Returns the wall time, the per-step times, and the error when the deploy failed.
    """
    times = StepTimes()
    previous_log = host.sandbox.log
    host.sandbox.log = times
    started = time.monotonic()
    error: Exception | None = None
    try:
        deploy(host.sandbox, release=release)
    except Exception as failure:  # a failed deploy is a figure too (the bad-release case expects it)
        error = failure
    finally:
        host.sandbox.log = previous_log
    return time.monotonic() - started, times.seconds, error


def redeploy_under_load(host: BenchHost, release: Any, connections: int = 32) -> dict[str, Any]:
    """Deploy `release` while wrk keeps reading the API; errors seen by wrk are the figure."""
    request = wrk.Request(host.url(API_PATH))
    with wrk.Background(request, label="load during redeploy", connections=connections, limit_s=600) as load:
        time.sleep(2)  # the load is steady before the deploy starts
        wall, steps, error = timed_deploy(host, release)
        healthy_after = host.wait_healthy(timeout=30)
        time.sleep(2)
        result = load.stop()
    return {
        "release": release.hash,
        "wall_s": round(wall, 2),
        "deploy_step_s": steps.get("deploy"),
        # Upload + the deploy script until its health gate passed on the new release (whole seconds).
        "to_healthy_s": None
        if error is not None or "deploy_healthy_at" not in steps
        else round(steps.get("upload", 0) + steps["deploy_healthy_at"], 1),
        "upload_s": steps.get("upload"),
        "steps_s": steps,
        "failed": None if error is None else str(error).splitlines()[0][:300],
        "healthy_after_s": None if healthy_after is None else round(healthy_after, 2),
        "load": {
            "requests": result.requests,
            "errors": result.errors,
            "error_count": result.error_count,
            "rps": round(result.rps, 1),
            "p99_ms": result.latency_ms["p99"],
        },
    }
