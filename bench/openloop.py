"""Open-loop latency: requests at a fixed arrival rate (hey -q, Debian's package), stepped up until the tail breaks.

wrk is closed-loop: a slow server slows the load too, so its latency never shows the queue a real crowd builds.
Here the rate is fixed. hey runs one worker per request per second (each at `-q 1`, up to MAX_WORKERS), so a
worker falls behind only once a response takes longer than its interval, long after the 100 ms target broke. A
step passes when p99 < P99_LIMIT_MS, no request failed (transport error or non-2xx), and hey sustained at least
SUSTAINED of the asked rate; the figure is the highest passing rate, with every step's numbers kept.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from bench.wrk import Request

P99_LIMIT_MS = 100.0
SUSTAINED = 0.9
MAX_WORKERS = 1000
# From 10/s: on the shared build machine the baseline cannot hold 25/s, and a figure of "none" says little.
RATES = (10, 25, 50, 100, 200, 400, 800, 1600, 3200)
# hey prints a 99% line only with at least 100 results; every step asks for more than that.
MIN_REQUESTS = 100

_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_P99 = re.compile(r"^\s*99% in ([\d.]+) secs", re.M)
_STATUS = re.compile(r"^\s*\[(\d{3})\]\s+(\d+) responses", re.M)
_ERROR = re.compile(r"^\s*\[(\d+)\]\s+(.+)$", re.M)


class HeyError(RuntimeError):
    """hey is missing, refused its arguments, or printed no summary."""


def _argv(request: Request, rate: int, seconds: float) -> list[str]:
    hey = shutil.which("hey")
    if hey is None:
        raise HeyError("hey is not installed (apt-get install hey; scripts/install-deps.sh installs it)")
    workers = min(rate, MAX_WORKERS)
    argv = [hey, "-z", f"{max(1, round(seconds))}s", "-c", str(workers), "-q", f"{rate / workers:g}", "-t", "10"]
    argv += ["-m", request.method, "-disable-redirects"]
    if request.body:
        argv += ["-d", request.body, "-T", "application/json"]
    if request.cookie:
        argv += ["-H", f"Cookie: {request.cookie}"]
    return [*argv, request.url]


def parse(output: str, rate: int, seconds: float) -> dict[str, Any]:
    """hey's text summary as figures; `ok` says whether the step met the target."""
    rps = _RPS.search(output)
    if rps is None:
        raise HeyError(f"hey printed no summary at {rate}/s:\n{output[-2000:]}")
    statuses = {int(code): int(count) for code, count in _STATUS.findall(output)}
    errors_part = output.split("Error distribution:", 1)[1] if "Error distribution:" in output else ""
    transport = {message.strip(): int(count) for count, message in _ERROR.findall(errors_part)}
    p99 = _P99.search(output)
    p99_ms = round(float(p99[1]) * 1000, 2) if p99 else None
    completed = sum(statuses.values())
    failed = sum(count for code, count in statuses.items() if not 200 <= code < 300) + sum(transport.values())
    achieved = float(rps[1])
    ok = p99_ms is not None and p99_ms < P99_LIMIT_MS and failed == 0 and achieved >= SUSTAINED * rate
    return {
        "rate": rate,
        "seconds": seconds,
        "achieved_rps": round(achieved, 1),
        "responses": completed,
        "p99_ms": p99_ms,
        "failed": failed,
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "transport_errors": dict(list(transport.items())[:3]),
        "ok": ok,
    }


def step(request: Request, rate: int, seconds: float) -> dict[str, Any]:
    seconds = max(seconds, math.ceil(MIN_REQUESTS / rate))
    completed = subprocess.run(
        _argv(request, rate, seconds), capture_output=True, text=True, timeout=seconds + 120, check=False
    )
    if completed.returncode != 0:
        raise HeyError(f"hey exited {completed.returncode} at {rate}/s: {completed.stderr.strip()[-500:]}")
    return parse(completed.stdout, rate, seconds)


def highest_rate(
    request: Request, *, seconds: float = 5, rates: Sequence[int] = RATES, log: Any = print
) -> dict[str, Any]:
    """Step through `rates` until one fails; the highest that passed (None if the first failed) and each step."""
    steps = []
    best = None
    for rate in rates:
        result = step(request, rate, seconds)
        log(
            f"  open loop {rate}/s: achieved {result['achieved_rps']}/s, p99 {result['p99_ms']} ms, "
            f"{result['failed']} failed -> {'ok' if result['ok'] else 'broke'}"
        )
        steps.append(result)
        if not result["ok"]:
            break
        best = rate
    return {"max_rate_p99_under_100ms": best, "steps": steps}
