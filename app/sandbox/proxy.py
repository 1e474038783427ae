"""The sandbox's only way out: a tinyproxy on the host end of the veth, for the Debian mirror alone."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

from app.sandbox.mirror import Mirror
from app.sandbox.settings import PROXY_PORT, SandboxSettings
from app.sandbox.system import SandboxError, run

PROXY_USER = "tinyproxy"


def _config(settings: SandboxSettings, filter_file: Path) -> str:
    directory = settings.proxy_dir
    return (
        f"# Raindrop sandbox {settings.name}: apt proxy for {settings.subnet} only.\n"
        f"User {PROXY_USER}\nGroup {PROXY_USER}\n"
        f"Listen {settings.host_address}\nPort {PROXY_PORT}\n"
        f"Allow {settings.subnet}\n"
        f'PidFile "{directory / "tinyproxy.pid"}"\n'
        f'LogFile "{directory / "tinyproxy.log"}"\n'
        "LogLevel Notice\nTimeout 600\nMaxClients 50\nDisableViaHeader Yes\n"
        # Only the mirror's host names pass; everything else gets 403.
        f'Filter "{filter_file}"\nFilterType fnmatch\nFilterDefaultDeny Yes\n'
        "ConnectPort 443\n"
    )


def pid_file(settings: SandboxSettings) -> Path:
    return settings.proxy_dir / "tinyproxy.pid"


def running_pid(settings: SandboxSettings) -> int | None:
    """The pid of this sandbox's tinyproxy, if its pid file names a live tinyproxy using our config."""
    try:
        pid = int(pid_file(settings).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ValueError):
        return None
    config = str(settings.proxy_dir / "tinyproxy.conf").encode()
    return pid if config in cmdline else None


def start(settings: SandboxSettings, mirror: Mirror) -> None:
    if running_pid(settings) is not None:
        return
    if shutil.which("tinyproxy") is None:
        raise SandboxError("tinyproxy is not installed (apt-get install tinyproxy)")
    directory = settings.proxy_dir
    directory.mkdir(parents=True, exist_ok=True)
    hosts = sorted({urlsplit(url).hostname or "" for url in (mirror.archive, mirror.security)} - {""})
    filter_file = directory / "allowed-hosts"
    filter_file.write_text("".join(f"{host}\n" for host in hosts))
    config = directory / "tinyproxy.conf"
    config.write_text(_config(settings, filter_file))
    # tinyproxy drops to its own user before it writes its log and pid file.
    shutil.chown(directory, PROXY_USER, PROXY_USER)
    run(["tinyproxy", "-c", str(config)])
    deadline = time.monotonic() + 10
    while running_pid(settings) is None:
        if time.monotonic() > deadline:
            log = directory / "tinyproxy.log"
            tail = log.read_text()[-1000:] if log.exists() else "(no log)"
            raise SandboxError(f"tinyproxy did not start for sandbox {settings.name}: {tail}")
        time.sleep(0.1)


def stop(settings: SandboxSettings) -> None:
    pid = running_pid(settings)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)
