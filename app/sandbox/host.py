"""The sandbox host's life cycle: create, power on (boot), crash and remove.

A running host is a process tree under its own PID 1 (init.py) in fresh PID, mount and UTS namespaces,
inside its network namespace and chrooted into its root. Commands enter it with nsenter.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from app.executor import SshExecutor, SshTarget, wait_for_port
from app.sandbox import network, proxy, rootfs
from app.sandbox.mirror import find_mirror
from app.sandbox.settings import SandboxSettings
from app.sandbox.system import Log, SandboxError, run
from app.steps.script import Script

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# No host step should take this long (provision's apt is about a minute): a hung one fails instead.
SCRIPT_TIMEOUT = 600.0
INIT_PROGRAM = Path(__file__).with_name("init.py")
# Boot scripts that would act on the machine's kernel or hardware rather than on the sandbox.
BOOT_SKIP = frozenset({"procps", "kmod", "udev", "hwclock.sh", "keyboard-setup.sh", "console-setup.sh"})


def _mount_points() -> list[str]:
    """Every mount point of this (the machine's) mount namespace, from /proc/self/mountinfo."""
    return [line.split()[4].encode().decode("unicode_escape") for line in Path("/proc/self/mountinfo").open()]


class Sandbox:
    """One sandbox host. Every method is idempotent; `up_host` removes its own leftovers on failure."""

    def __init__(self, settings: SandboxSettings, log: Log = print) -> None:
        self.settings = settings
        self.log = log

    # -- state -----------------------------------------------------------------------------------
    @property
    def exists(self) -> bool:
        """True once a host was completely created (its state file is written last)."""
        return self.settings.state_file.exists()

    @property
    def _init_pid_file(self) -> Path:
        return self.settings.directory / "init.pid"

    def init_pid(self) -> int | None:
        """The machine-side pid of the host's PID 1, when it runs."""
        try:
            pid = int(self._init_pid_file.read_text().strip())
            root = os.readlink(f"/proc/{pid}/root")
        except (FileNotFoundError, ValueError, OSError):
            return None
        return pid if root == str(self.settings.root) else None

    @property
    def running(self) -> bool:
        return self.init_pid() is not None

    def target(self) -> SshTarget:
        return SshTarget(
            host=self.settings.address, key_path=self.settings.key_path, known_hosts=self.settings.known_hosts
        )

    def executor(self, echo: Log | None = None, script_timeout: float = SCRIPT_TIMEOUT) -> SshExecutor:
        return SshExecutor(self.target(), echo=echo or self.log, script_timeout=script_timeout)

    def connection_info(self) -> dict[str, str]:
        """How to reach the host: the first keys of `up`'s final JSON line."""
        return {
            "url": f"http://{self.settings.address}/",
            "ssh": f"root@{self.settings.address}",
            "key": str(self.settings.key_path),
        }

    def in_sandbox(self, argv: Sequence[str]) -> list[str]:
        """argv that runs a command inside the running host: all its namespaces, its root, a clean env."""
        pid = self.init_pid()
        if pid is None:
            raise SandboxError(f"sandbox {self.settings.name} is not running (python -m app.sandbox boot)")
        return [
            "nsenter", f"--target={pid}", "--pid", "--mount", "--uts", "--net", "--root", "--wd", "--",
            "/usr/bin/env", "-i", f"PATH={PATH}", "LANG=C.UTF-8", "HOME=/root", *argv,
        ]  # fmt: skip

    def processes(self) -> set[int]:
        """Machine-side pids of the host's processes: in its PID or network namespace, or in its root."""
        root = str(self.settings.root)
        found = network.pids_in_netns(self.settings)
        init = self.init_pid()
        pid_ns = os.readlink(f"/proc/{init}/ns/pid") if init else None
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):  # exited meanwhile, or a kernel thread
                if os.readlink(entry / "root") == root or (pid_ns and os.readlink(entry / "ns/pid") == pid_ns):
                    found.add(int(entry.name))
        found.discard(os.getpid())
        return found

    def process_table(self) -> list[dict[str, object]]:
        """pid, uid and command line of every host process, read from the machine's /proc."""
        table = []
        for pid in sorted(self.processes()):
            with contextlib.suppress(OSError):
                status = Path(f"/proc/{pid}/status").read_text()
                uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                table.append({"pid": pid, "uid": uid, "cmdline": " ".join(a.decode(errors="replace") for a in argv)})
        return table

    def mounts(self) -> list[str]:
        """Mounts under the host's directory in the machine's namespace (there should be none)."""
        prefix = str(self.settings.directory) + "/"
        return [point for point in _mount_points() if point.startswith(prefix)]

    def _sshd_running(self) -> bool:
        for pid in self.processes():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
                    return True
        return False

    def status(self) -> dict[str, object]:
        settings = self.settings
        return {
            "name": settings.name,
            "exists": self.exists,
            "running": self.running,
            "address": settings.address,
            "subnet": settings.subnet,
            "netns": network.netns_exists(settings),
            "proxy": proxy.running_pid(settings) is not None,
            "sshd": self._sshd_running(),
            "processes": len(self.processes()),
        }

    # -- up ----------------------------------------------------------------------------------------
    def up_host(self, fresh: bool = False) -> None:
        """Make the host exist and run. An existing complete host is reused (and booted) unless `fresh`."""
        recorded = self.settings.recorded_subnet()
        if not fresh and recorded not in (None, self.settings.subnet):
            raise SandboxError(
                f"sandbox {self.settings.name} exists on {recorded}, not {self.settings.subnet}; "
                "use --fresh (or down first) to recreate it on the new subnet"
            )
        if fresh or not self.exists:
            self.down()
            started = time.monotonic()
            try:
                self._create()
            except BaseException:
                self.log(f"sandbox {self.settings.name}: creation failed, removing what was made")
                self.down()
                raise
            self.log(f"sandbox {self.settings.name}: host ready in {time.monotonic() - started:.1f}s")
        else:
            self.power_on()

    def _create(self) -> None:
        settings = self.settings
        mirror = find_mirror()
        self.log(f"sandbox {settings.name}: creating Debian 12 host at {settings.address} ({settings.root})")
        rootfs.base_root_tarball(settings, mirror, self.log)  # before anything is made for this host
        settings.directory.mkdir(parents=True, exist_ok=True)
        settings.ssh_dir.mkdir(mode=0o700, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{settings.hostname}",
             "-f", str(settings.key_path)])  # fmt: skip
        rootfs.unpack_root(settings, mirror, self.log)
        rootfs.personalise(settings, mirror, settings.key_path.with_suffix(".pub").read_text())
        # New host keys, as a cloud image makes on its first boot.
        run(["chroot", str(settings.root), "/usr/bin/ssh-keygen", "-A"])
        self._write_known_hosts()
        network.create(settings)
        proxy.start(settings, mirror)
        self.boot()
        with self.executor(echo=lambda _line: None) as probe:
            probe.run(Script(name="sandbox-probe", body='test -x /usr/bin/python3\ntest "$(id -u)" = 0'))
        settings.state_file.write_text(json.dumps({"name": settings.name, "subnet": settings.subnet}) + "\n")

    def power_on(self) -> None:
        """Bring a created host back, e.g. after this machine rebooted or after `crash`."""
        if not network.netns_exists(self.settings):
            network.delete(self.settings)
            network.create(self.settings)
        proxy.start(self.settings, find_mirror())
        if not self._sshd_running():
            self._kill_all()
            self.boot()

    def _write_known_hosts(self) -> None:
        lines = []
        for key in sorted((self.settings.root / "etc/ssh").glob("ssh_host_*_key.pub")):
            kind, blob = key.read_text().split()[:2]
            lines.append(f"{self.settings.address} {kind} {blob}\n")
        self.settings.known_hosts.write_text("".join(lines))

    # -- boot and crash --------------------------------------------------------------------------------
    def _start_init(self) -> int:
        settings = self.settings
        self._init_pid_file.unlink(missing_ok=True)
        init = [sys.executable, str(INIT_PROGRAM), str(settings.root), settings.hostname, str(self._init_pid_file)]
        argv = ["ip", "netns", "exec", settings.netns, "unshare", "--pid", "--fork", "--mount", "--uts", "--", *init]
        log_file = (settings.directory / "init.log").open("ab")
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, start_new_session=True)
        log_file.close()
        deadline = time.monotonic() + 15
        while (pid := self.init_pid()) is None:
            if time.monotonic() > deadline:
                output = (settings.directory / "init.log").read_text()[-1000:]
                raise SandboxError(f"sandbox {settings.name}: its init did not start: {output}")
            time.sleep(0.05)
        return pid

    def boot(self) -> list[str]:
        """Power on: a new PID 1, then what a booting Debian starts in runlevel 2, in rc2.d order.

        There is no systemd in the chroot; the services enabled at boot are the S links that update-rc.d
        (or `systemctl enable`, which calls it) made. Returns the services started.
        """
        if self.running:
            raise SandboxError(f"sandbox {self.settings.name} is already running; crash it first to reboot")
        self._start_init()
        run(self.in_sandbox(["systemd-tmpfiles", "--create", "--boot", "--prefix=/run"]), check=False)
        started = []
        for link in sorted((self.settings.root / "etc/rc2.d").glob("S[0-9][0-9]*")):
            service = link.name[3:]
            if service in BOOT_SKIP:
                continue
            self.log(f"boot: starting {service}")
            completed = subprocess.run(self.in_sandbox([f"/etc/init.d/{service}", "start"]),
                                       capture_output=True, text=True, check=False)  # fmt: skip
            if completed.returncode != 0:
                output = (completed.stdout + completed.stderr).strip()[-800:]
                raise SandboxError(f"boot: {service} failed to start (exit {completed.returncode}): {output}")
            started.append(service)
        # What systemd-user-sessions does once boot is done: let unprivileged users log in.
        run(self.in_sandbox(["rm", "-f", "/run/nologin"]))
        wait_for_port(self.settings.address, 22, timeout=30)
        return started

    def crash(self) -> None:
        """Pull the plug: SIGKILL the host's PID 1, so the kernel kills all its processes; /run is lost."""
        self._kill_all()

    # -- down --------------------------------------------------------------------------------------
    def down(self) -> None:
        """Remove everything of this host: processes, network, proxy and files."""
        settings = self.settings
        self._kill_all()
        proxy.stop(settings)
        network.delete(settings)
        left = self.mounts()
        if left:
            raise SandboxError(f"sandbox {settings.name}: still mounted, not deleting files: {', '.join(left)}")
        if settings.directory.exists():
            # --one-file-system: even if a mount slipped in, never recurse into the machine's /dev or /proc.
            run(["rm", "-rf", "--one-file-system", str(settings.directory)])

    def _kill_all(self) -> None:
        init = self.init_pid()
        if init is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(init, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pids := self.processes():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                raise SandboxError(f"sandbox {self.settings.name}: processes survive SIGKILL: {sorted(pids)}")
            time.sleep(0.05)
        self._init_pid_file.unlink(missing_ok=True)
