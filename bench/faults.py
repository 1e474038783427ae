"""The faults of `python -m bench.chaos`, each a function of the host returning its figures.

kill -9 of one service at a time under a writer, a power cut then a boot, a `systemctl reboot` inside the
host, MariaDB stopped for a while, a release whose health check fails, durability across redeploys and a
rollback, and slowloris. The host boots systemd (app/sandbox/host.py), so what brings a killed service back is
what brings it back on ECS: the Restart= drop-ins of the provision step, and supervisor's autorestart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import cases, slowloris, wrk
from bench.host import BenchHost, HostError, is_gunicorn, log, program_of
from bench.variants import build_variant
from bench.writer import Writer

RECOVERY_WAIT_S = 45
BOOT_WAIT_S = 240
# How long the database-outage fault keeps MariaDB stopped, and the bound on one health answer meanwhile.
DB_OUTAGE_S = 30
HEALTH_ANSWER_LIMIT_S = 5


@dataclass(frozen=True)
class Service:
    name: str
    matches: Callable[[str, int], bool]
    start_by_hand: str  # what an operator would run when nothing restarts it


SERVICES = {
    s.name: s
    for s in (
        Service("gunicorn", is_gunicorn, "supervisorctl start 'raindrop-web:*'"),
        Service("celery", lambda c, _u: program_of(c).endswith("/celery"), "supervisorctl start 'raindrop-celery:*'"),
        Service("nginx", lambda c, _u: c.startswith("nginx: master"), "systemctl start nginx"),
        Service("redis", lambda c, _u: program_of(c).endswith("redis-server"), "systemctl start redis-server"),
        Service("mariadb", lambda c, _u: program_of(c).endswith(("mariadbd", "mysqld")), "systemctl start mariadb"),
        Service("supervisord", lambda c, _u: program_of(c).endswith("/supervisord"), "systemctl start supervisor"),
    )
}


def _lost(host: BenchHost, acknowledged: list[int]) -> list[int]:
    if not acknowledged:
        return []
    return host.python("hostside.py", "posts-exist", ",".join(map(str, acknowledged)))["missing"]


def _wait_back(host: BenchHost, service: Service, killed: set[int], timeout: float) -> float | None:
    """Seconds until /api/health is 200 and the service runs again (new pids), or None."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if host.status("/api/health", timeout=2) == 200 and set(host.pids(service.matches)) - killed:
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def kill_one(host: BenchHost, service: Service, cookie: str) -> dict[str, Any]:
    """kill -9 every process of `service` while a writer posts; time to healthy; acknowledged posts kept?"""
    pids = host.pids(service.matches)
    if not pids:
        raise HostError(f"no {service.name} process runs on the host before the kill")
    with Writer(host.base_url, cookie, label=f"writer ({service.name} kill)") as writer:
        time.sleep(2)
        killed_at = time.monotonic()
        host.kill(pids)
        back = _wait_back(host, service, set(pids), RECOVERY_WAIT_S)
        restarted_by = "itself"
        if back is None:
            log(f"{service.name} did not come back within {RECOVERY_WAIT_S} s: starting it by hand")
            # Bounded, and detached from the SSH channel: an init script can hang (a daemon in the foreground).
            host.run(
                f"bench-start-{service.name}",
                f"timeout 60 {service.start_by_hand} </dev/null >/tmp/bench-start-{service.name}.log 2>&1 || true",
            )
            restarted_by = "hand (nothing restarted it)"
            if _wait_back(host, service, set(pids), RECOVERY_WAIT_S) is None:
                raise HostError(f"{service.name} is not back even after `{service.start_by_hand}`")
        total = time.monotonic() - killed_at
        time.sleep(2)  # the writer gets some acknowledged posts after the recovery too
        written = writer.stop()
    lost = _lost(host, writer.acknowledged)
    figure = {
        "process": service.name,
        "killed_pids": len(pids),
        "recovered_s": None if back is None else round(back, 2),
        "back_after_s": round(total, 2),
        "restarted_by": restarted_by,
        "acknowledged": written["acknowledged"],
        "failed_requests": written["failed_requests"],
        "lost": len(lost),
        "lost_examples": lost[:5],
    }
    log(f"kill -9 {service.name}: {figure}")
    return figure


def _restart_under_writer(host: BenchHost, cookie: str, label: str, restart: Callable[[], Any]) -> dict[str, Any]:
    """Run `restart` (a power cut and boot, or a reboot) while a writer posts; time to healthy; writes kept?"""
    with Writer(host.base_url, cookie, label=f"writer ({label})") as writer:
        time.sleep(2)
        host.reconnect()
        started_at = time.monotonic()
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["started"] = restart()
            except Exception as error:  # the figure says what failed
                outcome["error"] = f"{type(error).__name__}: {str(error)[:400]}"

        # A boot that hangs must not hang the suite: a thread with a deadline keeps this run bounded.
        thread = threading.Thread(target=run, name=label, daemon=True)
        thread.start()
        thread.join(BOOT_WAIT_S)
        if thread.is_alive():
            outcome["error"] = f"{label} did not finish within {BOOT_WAIT_S} s"
        healthy = host.wait_healthy(timeout=RECOVERY_WAIT_S)
        total = time.monotonic() - started_at
        time.sleep(2)
        written = writer.stop()
    lost = _lost(host, writer.acknowledged) if healthy is not None else None
    return {
        "boot_error": outcome.get("error"),
        "services_started": outcome.get("started"),
        "healthy_after_s": None if healthy is None else round(total, 2),
        "acknowledged": written["acknowledged"],
        "failed_requests": written["failed_requests"],
        "lost": None if lost is None else len(lost),
    }


def power_cut(host: BenchHost, cookie: str) -> dict[str, Any]:
    """Power cut (every process of the host killed, /run lost), then power on: systemd boots it."""

    def cut_and_boot() -> list[str]:
        host.sandbox.crash()
        return host.sandbox.boot()

    return _restart_under_writer(host, cookie, "power cut", cut_and_boot)


def reboot(host: BenchHost, cookie: str) -> dict[str, Any]:
    """`systemctl reboot` inside the host; nothing outside it lends a hand (power.sh boots it again)."""
    return _restart_under_writer(host, cookie, "reboot", host.sandbox.reboot)


def _timed_health(host: BenchHost) -> tuple[int | None, float]:
    started = time.monotonic()
    status = host.status("/api/health", timeout=HEALTH_ANSWER_LIMIT_S * 2)
    return status, time.monotonic() - started


def database_outage(host: BenchHost, cookie: str, seconds: float = DB_OUTAGE_S) -> dict[str, Any]:
    """MariaDB stopped for `seconds`: health must answer 503 promptly (not hang), and come back by itself."""
    answers: list[tuple[int | None, float]] = []
    with Writer(host.base_url, cookie, label="writer (database outage)") as writer:
        time.sleep(2)
        host.run("bench-stop-mariadb", "systemctl stop mariadb")
        stopped_at = time.monotonic()
        while time.monotonic() - stopped_at < seconds:
            answers.append(_timed_health(host))
            time.sleep(1)
        host.run("bench-start-mariadb", "systemctl start mariadb")
        during = len(writer.acknowledged)
        healthy = host.wait_healthy(timeout=RECOVERY_WAIT_S)
        back = None if healthy is None else time.monotonic() - stopped_at - seconds
        time.sleep(3)  # writes after the outage must succeed again
        written = writer.stop()
    writes_after = len(writer.acknowledged) - during
    read_back = host.status(f"/api/posts/{writer.acknowledged[-1]}", timeout=10) if writes_after else None
    lost = _lost(host, writer.acknowledged) if healthy is not None else None
    statuses = sorted({status for status, _ in answers}, key=str)
    return {
        "stopped_s": seconds,
        "health_statuses": statuses,
        "health_answers": len(answers),
        "health_slowest_s": round(max((s for _, s in answers), default=0.0), 2),
        "all_503": bool(answers) and all(status == 503 for status, _ in answers),
        "healthy_after_start_s": None if back is None else round(back, 2),
        "acknowledged": written["acknowledged"],
        "writes_after_outage": writes_after,
        "read_after_outage_status": read_back,
        "failed_requests": written["failed_requests"],
        "lost": None if lost is None else len(lost),
    }


def current_release(host: BenchHost) -> str:
    current = host.variables["raindrop_current_dir"]
    return host.run("bench-current-release", f'basename "$(readlink {current})"').stdout.strip()


def bad_release(host: BenchHost, feed_cookie: str, connections: int = 16, base: Path | None = None) -> dict[str, Any]:
    """A release whose /api/health is 503: the deploy must roll it back while wrk reads the feed."""
    release = build_variant(f"bad release {time.time():.0f}", bad_health=True, base=base)
    before = current_release(host)
    request = wrk.Request(host.url("/api/feed"), cookie=feed_cookie)
    with wrk.Background(request, label="load during bad release", connections=connections) as load:
        time.sleep(2)
        wall, steps, error = cases.timed_deploy(host, release)
        healthy = host.wait_healthy(timeout=30)
        time.sleep(2)
        result = load.stop()
    after = current_release(host)
    return {
        "release": release.hash,
        "deploy_failed": error is not None,
        "deploy_error": None if error is None else str(error).splitlines()[0][:300],
        "live_before": before,
        "live_after": after,
        "rolled_back": error is not None and before == after and healthy is not None,
        "deploy_wall_s": round(wall, 2),
        "steps_s": steps,
        "load_requests": result.requests,
        "load_errors": result.errors,
        "load_error_count": result.error_count,
    }


def _png(seed: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32 + seed, 24), (seed * 40 % 256, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def upload_images(host: BenchHost, cookie: str, count: int = 3) -> list[str]:
    import requests

    urls = []
    for n in range(count):
        response = requests.post(
            host.url("/api/uploads"),
            files={"file": (f"bench-{n}.png", _png(n), "image/png")},
            headers={"Cookie": cookie},
            timeout=30,
        )
        if response.status_code != 201:
            raise HostError(f"upload {n} answered {response.status_code}: {response.text[:200]}")
        urls.append(response.json()["url"])
    return urls


def durability(host: BenchHost, cookie: str, redeploys: int = 3, base: Path | None = None) -> dict[str, Any]:
    """Rows and uploads checksummed before and after `redeploys` code-only redeploys and one rollback."""
    uploads = upload_images(host, cookie)
    before = host.python("hostside.py", "checksum")
    deploys = []
    for n in range(redeploys):
        release = build_variant(f"durability {n} {time.time():.0f}", base=base)
        wall, _steps, error = cases.timed_deploy(host, release)
        deploys.append({"release": release.hash, "wall_s": round(wall, 2), "failed": error is not None})
        if error is not None:
            raise HostError(f"durability redeploy {n} failed: {str(error).splitlines()[0]}")
    rollback = host.run("bench-rollback", "/usr/local/bin/raindrop-rollback", check=False)
    after = host.python("hostside.py", "checksum")
    changed = sorted(t for t in before["tables"] if before["tables"][t] != after["tables"].get(t))
    uploads_changed = sorted(set(before["uploads"].items()) ^ set(after["uploads"].items()))
    return {
        "uploads_added": len(uploads),
        "tables": {t: v["rows"] for t, v in before["tables"].items()},
        "upload_files": len(before["uploads"]),
        "redeploys": deploys,
        "rollback_exit": rollback.exit_code,
        "rollback_to": current_release(host),
        "tables_changed": changed,
        "uploads_changed": [name for name, _digest in uploads_changed],
        "equal": not changed and not uploads_changed and rollback.exit_code == 0,
    }


def slow_clients(host: BenchHost, connections: int, seconds: float) -> dict[str, Any]:
    """The API's latency with fresh wrk connections, before and while `connections` slowloris clients hang."""
    request = wrk.Request(host.url(cases.API_PATH))
    quiet = wrk.run(request, label="API before slowloris", connections=8, seconds=seconds)
    with slowloris.attack(host.address, connections) as attack:
        under = wrk.run(request, label="API under slowloris", connections=8, seconds=seconds)
        single = host.status(cases.API_PATH, timeout=10)
        held = attack.summary()
    return {
        "slow_connections": held,
        "before": {"rps": round(quiet.rps, 1), "p99_ms": quiet.latency_ms["p99"], "errors": quiet.error_count},
        "under_attack": {
            "rps": round(under.rps, 1),
            "p99_ms": under.latency_ms["p99"],
            "errors": under.error_count,
            "error_kinds": under.errors,
            "new_connection_status": single,
        },
    }
