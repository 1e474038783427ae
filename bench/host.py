"""The sandbox host a bench run drives: made or reused through app/sandbox, reached over SSH and HTTP.

Everything that acts on the host goes through app.executor's SSH executor (scripts) or plain HTTP to its
nginx; processes are signalled from this machine by their machine-side pids, which app.sandbox lists.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import render
from app.executor import ScriptResult, SshExecutor
from app.sandbox import Sandbox, SandboxSettings
from app.sandbox.deploy import deploy, sandbox_values
from app.steps.script import Script
from app.steps.shell import heredoc, q

DEFAULT_NAME = "bench"
DEFAULT_SUBNET = "10.213.6.0/30"
REMOTE_DIR = Path(__file__).with_name("remote")
JSON_MARK = "BENCH_JSON "

Log = Callable[[str], None]


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


def _quiet(_line: str) -> None:
    """An executor echo that drops the per-line progress of small helper scripts."""


def program_of(cmdline: str) -> str:
    """The program a command line runs: the script, when an interpreter runs one (venv/bin/python3 …/gunicorn)."""
    words = cmdline.split()
    if len(words) > 1 and "python" in words[0].rsplit("/", 1)[-1]:
        return words[1]
    return words[0] if words else ""


def is_gunicorn(cmdline: str, _uid: int) -> bool:
    """Every process of the web tier: the release's gunicorn masters and workers, or the baseline's."""
    return program_of(cmdline).endswith("/gunicorn")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class HostError(RuntimeError):
    """The sandbox host did not do what a bench step needs; the message says what."""


@dataclass
class Acquired:
    host: BenchHost
    fresh_seconds: float | None  # fresh host to healthy, when this run made the host


class BenchHost:
    """One deployed sandbox host: HTTP to its nginx, scripts over SSH, signals to its processes."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        # Paths, user and ports as the templates have them (the secrets, which stay None here, are not needed).
        self.variables = {**render.load_defaults(), **sandbox_values(sandbox)}
        self._executor: SshExecutor | None = None

    # -- addresses -----------------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return self.sandbox.settings.address

    @property
    def base_url(self) -> str:
        return f"http://{self.address}"

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- HTTP ------------------------------------------------------------------------------------------
    def status(self, path: str = "/api/health", timeout: float = 3.0) -> int | None:
        """The HTTP status of a GET, or None when nothing answered."""
        try:
            with urllib.request.urlopen(self.url(path), timeout=timeout) as response:  # noqa: S310 - our sandbox
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except (OSError, urllib.error.URLError):
            return None

    def healthy(self) -> bool:
        return self.status("/api/health") == 200

    def wait_healthy(self, timeout: float, interval: float = 0.2) -> float | None:
        """Seconds until /api/health answers 200 (polling every `interval`), or None after `timeout`."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.status("/api/health", timeout=2.0) == 200:
                return time.monotonic() - started
            time.sleep(interval)
        return None

    # -- scripts over SSH --------------------------------------------------------------------------------
    def executor(self) -> SshExecutor:
        if self._executor is None:
            self._executor = self.sandbox.executor(echo=_quiet)
            self._executor.connect()
        return self._executor

    def reconnect(self) -> None:
        """Drop the SSH connection (after a reboot of the host the old one is dead)."""
        if self._executor is not None:
            self._executor.close()
            self._executor = None

    def close(self) -> None:
        self.reconnect()

    def run(self, name: str, body: str, *, check: bool = True) -> ScriptResult:
        return self.executor().run(Script(name=name, body=body), check=check)

    def python(self, script: str, *args: str, as_root: bool = False) -> Any:
        """Run bench/remote/<script> on the host with the live release's code and environment.

        It runs as the app user (root for `as_root`), with the env file loaded and the release's
        packages importable, and must print its result as one `BENCH_JSON {...}` line.
        """
        source = (REMOTE_DIR / script).read_text()
        v = self.variables
        user = "" if as_root else f"runuser -u {q(v['raindrop_app_user'])} -- "
        body = "\n".join(
            [
                "tmp=$(mktemp /tmp/bench-XXXXXX.py)",
                "trap 'rm -f \"$tmp\"' EXIT",
                heredoc('cat > "$tmp"', source).rstrip("\n"),
                'chmod 644 "$tmp"',
                f"cd {q(v['raindrop_current_dir'])}",
                f"set -a; . {q(v['raindrop_env_file'])}; set +a",
                f"export PYTHONPATH={q(v['raindrop_server_pythonpath'])}",
                f'{user}{q(v["raindrop_venv_dir"])}/bin/python "$tmp" {" ".join(q(a) for a in args)}',
            ]
        )
        result = self.run(f"bench-{script}", body, check=False)
        marked = [line for line in result.stdout.splitlines() if line.startswith(JSON_MARK)]
        if result.exit_code != 0 or not marked:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
            raise HostError(f"bench/remote/{script} failed on the host (exit {result.exit_code}):\n{tail}")
        return json.loads(marked[-1][len(JSON_MARK) :])

    def supervisorctl(self, *args: str, check: bool = True) -> str:
        return self.run("bench-supervisorctl", f"supervisorctl {' '.join(q(a) for a in args)}", check=check).stdout

    # -- processes ---------------------------------------------------------------------------------------
    def pids(self, match: Callable[[str, int], bool]) -> list[int]:
        """Machine-side pids of the host's processes whose (command line, uid) match."""
        return [int(p["pid"]) for p in self.sandbox.process_table() if match(str(p["cmdline"]), int(p["uid"]))]

    def cpu_seconds(self, match: Callable[[str, int], bool] = is_gunicorn) -> dict[int, float]:
        """CPU seconds (user + system, their reaped children's included) of each matching process, from the
        machine's /proc: the host is a namespace on this kernel, so these are the host's own counters."""
        return cpu_seconds_of(self.pids(match))

    def cpu_reader(self, match: Callable[[str, int], bool] = is_gunicorn) -> Callable[[], dict[int, float]]:
        """`cpu_seconds` of the processes matching now, cheap enough to call every few milliseconds: the process
        table is read once, here, and each call reads only their /proc/PID/stat."""
        pids = self.pids(match)
        return lambda: cpu_seconds_of(pids)

    def kill(self, pids: list[int], sig: int = signal.SIGKILL) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


def cpu_seconds_of(pids: Iterable[int]) -> dict[int, float]:
    """CPU seconds (user + system, their reaped children's included) of each of these machine-side pids that is
    still there."""
    used: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            # The fields after the command name, which may hold spaces: utime, stime, cutime, cstime.
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[pid] = sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLOCK_TICKS
    return used


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings of `cpu_seconds`, summed over the pids. A process that started
    meanwhile counts from zero; one that exited meanwhile is lost (none should)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def sandbox_for(name: str | None, subnet: str | None) -> Sandbox:
    """The named host (default `bench`, on a /30 of its own so it can live beside `make sandbox`'s)."""
    name = name or os.environ.get("RAINDROP_BENCH_SANDBOX") or DEFAULT_NAME
    subnet = (
        subnet
        or os.environ.get("RAINDROP_BENCH_SUBNET")
        or SandboxSettings(name=name).recorded_subnet()
        or (DEFAULT_SUBNET if name == DEFAULT_NAME else None)
    )
    return Sandbox(SandboxSettings.from_env(name, subnet), log=log)


def acquire(name: str | None, subnet: str | None, *, fresh: bool, bundle: Path | None = None) -> Acquired:
    """A deployed, healthy host: reused when it exists (and `fresh` is off), else made and timed.

    The fresh timing covers host creation (apt included), provision and deploy until /api/health is 200;
    the release bundle is built before the clock starts.
    """
    sandbox = sandbox_for(name, subnet)
    if sandbox.exists and not fresh:
        log(f"reusing sandbox host {sandbox.settings.name} at {sandbox.settings.address}")
        sandbox.up_host()
        host = BenchHost(sandbox)
        if host.wait_healthy(timeout=60) is None:
            log("it is not healthy: deploying the current release to it")
            deploy(sandbox, bundle=bundle)
            if host.wait_healthy(timeout=60) is None:
                raise HostError(f"sandbox {sandbox.settings.name} is not healthy after a deploy")
        return Acquired(host, None)
    from app.release import build_release, open_release

    release = open_release(bundle) if bundle else build_release()
    log(f"making a fresh sandbox host {sandbox.settings.name} at {sandbox.settings.address} (timed)")
    started = time.monotonic()
    sandbox.up_host(fresh=True)
    deploy(sandbox, release=release)
    host = BenchHost(sandbox)
    if host.wait_healthy(timeout=120) is None:
        raise HostError(f"the fresh sandbox {sandbox.settings.name} did not become healthy")
    return Acquired(host, time.monotonic() - started)


@contextlib.contextmanager
def acquired(name: str | None, subnet: str | None, *, fresh: bool, bundle: Path | None = None) -> Iterator[Acquired]:
    result = acquire(name, subnet, fresh=fresh, bundle=bundle)
    try:
        yield result
    finally:
        result.host.close()
