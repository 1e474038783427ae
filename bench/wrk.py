"""wrk (Debian's package) driven from Python: one run, or a run in the background stopped on demand.

bench/lua/report.lua makes the request (method, JSON body, session cookie from the environment) and
prints the summary as one JSON line, so nothing here parses wrk's human report.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPORT_SCRIPT = Path(__file__).with_name("lua") / "report.lua"
JSON_MARK = "BENCH_JSON "


class WrkError(RuntimeError):
    """wrk is missing, refused its arguments, or printed no summary."""


@dataclass(frozen=True)
class WrkResult:
    label: str
    connections: int
    seconds: float
    requests: int
    errors: dict[str, int]
    latency_ms: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(rps=round(self.rps, 1), error_count=self.error_count)
        data["p50_ms"], data["p99_ms"] = self.latency_ms["p50"], self.latency_ms["p99"]
        return data


@dataclass(frozen=True)
class Request:
    """What every wrk connection sends."""

    url: str
    method: str = "GET"
    body: str = ""
    cookie: str = ""

    def environment(self) -> dict[str, str]:
        return {**os.environ, "BENCH_METHOD": self.method, "BENCH_BODY": self.body, "BENCH_COOKIE": self.cookie}


def _argv(request: Request, connections: int, seconds: float, threads: int, timeout_s: float) -> list[str]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise WrkError("wrk is not installed (apt-get install wrk; scripts/install-deps.sh installs it)")
    if connections < 1 or seconds <= 0:
        raise WrkError(f"wrk needs at least 1 connection and a positive duration, not {connections}, {seconds}")
    threads = max(1, min(threads, connections))
    return [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s:g}s",
        "-s",
        str(REPORT_SCRIPT),
        request.url,
    ]


def parse(output: str, label: str, connections: int) -> WrkResult:
    """The summary line report.lua prints, as a WrkResult."""
    lines = [line for line in output.splitlines() if line.startswith(JSON_MARK)]
    if not lines:
        raise WrkError(f"wrk printed no summary for {label}:\n{output[-2000:]}")
    data = json.loads(lines[-1][len(JSON_MARK) :])
    return WrkResult(
        label=label,
        connections=connections,
        seconds=data["duration_us"] / 1e6,
        requests=int(data["requests"]),
        errors={kind: int(count) for kind, count in data["errors"].items()},
        latency_ms={name: round(value / 1000, 3) for name, value in data["latency_us"].items()},
    )


def run(
    request: Request, *, label: str, connections: int, seconds: float, threads: int = 2, timeout_s: float = 10.0
) -> WrkResult:
    """One wrk run of `seconds` at `connections`; raises WrkError when wrk fails."""
    argv = _argv(request, connections, seconds, threads, timeout_s)
    completed = subprocess.run(
        argv, env=request.environment(), capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if completed.returncode != 0:
        raise WrkError(f"wrk exited {completed.returncode} for {label}: {completed.stderr.strip()[-500:]}")
    return parse(completed.stdout, label, connections)


class Background:
    """wrk running until `stop()` (SIGINT: wrk stops, then reports what it did so far).

    `limit_s` bounds it in any case, so a forgotten run ends by itself.
    """

    def __init__(
        self,
        request: Request,
        *,
        label: str,
        connections: int,
        limit_s: float = 600,
        threads: int = 2,
        timeout_s: float = 10.0,
    ) -> None:
        self.label = label
        self.connections = connections
        argv = _argv(request, connections, limit_s, threads, timeout_s)
        self._process = subprocess.Popen(
            argv, env=request.environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def stop(self) -> WrkResult:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = self._process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            stdout, stderr = self._process.communicate()
        if not stdout:
            raise WrkError(f"wrk printed nothing for {self.label}: {stderr.strip()[-500:]}")
        return parse(stdout, self.label, self.connections)

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
