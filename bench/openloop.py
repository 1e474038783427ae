"""Open-loop latency: requests at a fixed arrival rate (h2load, from nghttp2-client), stepped up until the tail breaks.

wrk is closed-loop: a slow server slows the load too, so its latency never shows the queue a real crowd builds.
Here the rate is fixed. A step passes when p99 < P99_LIMIT_MS, no request failed (no response, or not 2xx),
and at least SUSTAINED of the asked rate was served; the figure is the highest passing rate, with every step's
numbers kept.

Not hey (`hey -c R -q 1`): hey starts all its workers at once and each worker's ticker fires at the same phase,
so "50/s" is a burst of 50 simultaneous requests once a second. That measures how fast a burst drains, not a
fixed arrival rate: a 1 ms request showed p99 131 ms at "50/s".

h2load over HTTP/1.1 (`--h1`) instead: C clients (one connection each, one request in flight), each at
`--rps R/C`, created one per 1/R s (`-r`/`--rate-period`; a few per period when 1/R is shorter than
MIN_PERIOD_MS). A client sends its first request when it connects and then one every C/R s, so client i's ticks
fall at i/R + k*C/R: the tickers interleave and the arrivals are spread evenly at R/s. `-n R*S` stops each
client after its share. A client that is still waiting for a response when it should send sends as soon as the
response is in (h2load keeps the count), so the rate holds while C exceeds R times the latency (MAX_CLIENTS).
The server must keep its connections alive (nginx does): h2load reconnects after a close and sends at once.

h2load prints no p99, so the figures come from its `--log-file`: one tab-separated row per finished request,
start (microseconds since the epoch), HTTP status (-1 for a stream that failed), duration (microseconds). p99 is
over the responses' durations, and the achieved rate is responses over the span from the first start to the
last end. Requests that never got a response are counted from the summary line (`requests: N total, ...,
N errored, N timeout`; timeouts are also errored), and every request asked that did not end in a 2xx is failed.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.wrk import Request

P99_LIMIT_MS = 100.0
SUSTAINED = 0.9
# Clients (connections) are min(rate, MAX_CLIENTS). An h1 client has one request in flight, so a response slower
# than the client's interval (C/R s) delays its next request, and that wait is not in any latency (coordinated
# omission). While C/R >= P99_LIMIT_MS the interval is never shorter than the limit, so only a request already over
# the limit can delay another. 512 keeps it so up to 5120/s (160 ms per client at 3200/s; by Little's law a 100 ms
# mean at 3200/s holds 320 of them busy), well within nginx's worker_connections and a 1024-descriptor limit.
MAX_CLIENTS = 512
# --rate-period takes whole units only (h, m, s, ms; no us, no fractions), and libev's epoll timer wakes with ms
# resolution, lagging a shorter period. So the period is at least 5 ms, with rate*5ms connections made at once,
# whose requests then arrive together: 16 every 5 ms at 3200/s, which is nothing next to a 100 ms target.
MIN_PERIOD_MS = 5
# A connection silent this long is dropped and its requests count as failed, so a hung server ends the step.
INACTIVITY_TIMEOUT = "10s"
# From 10/s: on the shared build machine the baseline could not hold 25/s (under hey's bursts), and a figure of
# "none" says little. hey's bursts broke steps far below a steady rate the server holds, so the figures should now
# be higher, up where a doubling step (800, 1600, 3200) could halve one: 1200 and 2400 sit between.
RATES = (10, 25, 50, 100, 200, 400, 800, 1200, 1600, 2400, 3200)
# The unrecorded warm-up before the first step: MIN_REQUESTS requests.
WARMUP_RATE = 50
WARMUP_SECONDS = 2
# A p99 of fewer than 100 requests is just the slowest one; every step asks for at least that many.
MIN_REQUESTS = 100

_REQUESTS = re.compile(
    r"^requests: (?P<total>\d+) total, (?P<started>\d+) started, (?P<done>\d+) done, (?P<succeeded>\d+) succeeded, "
    r"(?P<failed>\d+) failed, (?P<errored>\d+) errored, (?P<timeout>\d+) timeout",
    re.M,
)


class OpenLoopError(RuntimeError):
    """h2load is missing, refused its arguments, or printed no summary."""


def plan(rate: int) -> tuple[int, int, int]:
    """(clients, connections made per period, period in ms) for `rate` requests/s, as described above."""
    if rate < 1:
        raise ValueError(f"an arrival rate must be at least 1/s, not {rate}")
    clients = min(rate, MAX_CLIENTS)
    per_period = min(clients, math.ceil(rate * MIN_PERIOD_MS / 1000))
    return clients, per_period, max(1, round(per_period * 1000 / rate))


def _argv(request: Request, rate: int, seconds: float, log_file: Path, body_file: Path | None) -> list[str]:
    h2load = shutil.which("h2load")
    if h2load is None:
        raise OpenLoopError(
            "h2load is not installed (apt-get install nghttp2-client; scripts/install-deps.sh installs it)"
        )
    clients, per_period, period_ms = plan(rate)
    argv = [h2load, "--h1", "-n", str(round(rate * seconds)), "-c", str(clients), "--rps", str(rate / clients)]
    # One thread (the default, said here): a few thousand h1 requests/s is little for it, and the log stays in order.
    argv += ["-r", str(per_period), "--rate-period", f"{period_ms}ms", "-t", "1", "-N", INACTIVITY_TIMEOUT]
    argv += ["--log-file", str(log_file)]
    if body_file is not None:
        argv += ["-d", str(body_file), "-H", "content-type: application/json"]
    if request.method != ("POST" if body_file is not None else "GET"):  # h2load's method follows -d otherwise
        argv += ["-H", f":method: {request.method}"]
    if request.cookie:
        argv += ["-H", f"cookie: {request.cookie}"]
    return [*argv, request.url]


def _rows(log: str) -> list[tuple[int, int, int]]:
    """The log's rows as (start us, status, duration us); columns past the third (h2load may add some) are left."""
    rows = []
    for line in log.splitlines():
        if line.strip():
            start, status, duration = line.split("\t")[:3]
            rows.append((int(start), int(status), int(duration)))
    return rows


def parse(summary: str, log: str, rate: int, seconds: float) -> dict[str, Any]:
    """h2load's summary and --log-file as figures; `ok` says whether the step met the target."""
    counts = _REQUESTS.search(summary)
    if counts is None:
        raise OpenLoopError(f"h2load printed no summary at {rate}/s:\n{summary[-2000:]}")
    rows = _rows(log)
    responses = [row for row in rows if row[1] >= 0]
    statuses = Counter(status for _start, status, _duration in responses)
    succeeded = sum(count for code, count in statuses.items() if 200 <= code < 300)
    durations = sorted(duration for _start, _status, duration in responses)
    # Nearest rank: the smallest duration that at least 99% of the responses do not exceed.
    p99_ms = round(durations[math.ceil(0.99 * len(durations)) - 1] / 1000, 2) if durations else None
    span_us = max((s + d for s, _c, d in responses), default=0) - min((s for s, _c, _d in responses), default=0)
    achieved = len(responses) / (span_us / 1e6) if span_us > 0 else 0.0
    failed = int(counts["total"]) - succeeded
    transport = {kind: int(counts[kind]) for kind in ("errored", "timeout") if int(counts[kind])}
    ok = p99_ms is not None and p99_ms < P99_LIMIT_MS and failed == 0 and achieved >= SUSTAINED * rate
    return {
        "rate": rate,
        "seconds": seconds,
        "achieved_rps": round(achieved, 1),
        "responses": len(responses),
        "p99_ms": p99_ms,
        "failed": failed,
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "transport_errors": transport,
        "ok": ok,
    }


def step(request: Request, rate: int, seconds: float) -> dict[str, Any]:
    seconds = max(seconds, math.ceil(MIN_REQUESTS / rate))
    with tempfile.TemporaryDirectory(prefix="raindrop-openloop-") as scratch:
        log_file = Path(scratch) / "requests.tsv"  # h2load appends, so a fresh file for every step
        body_file = None
        if request.body:
            body_file = Path(scratch) / "body.json"
            body_file.write_text(request.body)
        completed = subprocess.run(
            _argv(request, rate, seconds, log_file, body_file),
            capture_output=True,
            text=True,
            timeout=seconds + 120,
            check=False,
        )
        if completed.returncode != 0:
            raise OpenLoopError(f"h2load exited {completed.returncode} at {rate}/s: {completed.stderr.strip()[-500:]}")
        log = log_file.read_text() if log_file.exists() else ""
    return {**parse(completed.stdout, log, rate, seconds), "clients": plan(rate)[0]}


def highest_rate(
    request: Request,
    *,
    seconds: float = 5,
    rates: Sequence[int] = RATES,
    log: Any = print,
    between: Callable[[], object] = lambda: None,
) -> dict[str, Any]:
    """Step through `rates` until one fails; the highest that passed (None if the first failed) and each step.

    A warm-up step comes first and is not recorded: the first requests after a switch (the baseline's four sync
    workers each load the app and compile their queries on their first request) took 1.8 s, and the p99 of the
    lowest step, a hundred requests, was those. `between` runs after the warm-up and after each step (the bench
    waits there for the Celery backlog of a case that queues tasks).
    """
    warm = step(request, WARMUP_RATE, WARMUP_SECONDS)
    between()
    log(f"  open loop warm-up {WARMUP_RATE}/s (not recorded): p99 {warm['p99_ms']} ms, {warm['failed']} failed")
    steps = []
    best = None
    for rate in rates:
        result = step(request, rate, seconds)
        between()
        log(
            f"  open loop {rate}/s: achieved {result['achieved_rps']}/s, p99 {result['p99_ms']} ms, "
            f"{result['failed']} failed -> {'ok' if result['ok'] else 'broke'}"
        )
        steps.append(result)
        if not result["ok"]:
            break
        best = rate
    return {"max_rate_p99_under_100ms": best, "steps": steps}
