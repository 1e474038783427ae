"""The sandbox host's life cycle: create, power on (boot), reboot, crash and remove.

A running host is a Debian 12 root booted by systemd-nspawn, as an ECS instance boots its image: systemd is
its PID 1 and starts sshd, nginx, MariaDB, Redis and supervisor as units with the project's drop-ins, in
unit order. It runs in its own network namespace (the veth of network.py). `power.sh` is its power supply:
it starts nspawn and starts it again when the host reboots. Commands enter the host with nsenter.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
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
POWER_PROGRAM = Path(__file__).with_name("power.sh")
# systemd's own hard limit of open files on a systemd machine (its default since v240), as on ECS.
HOST_NOFILE_LIMIT = 524288
# From nspawn's start to systemd's "running" (or "degraded"): about 3 s here; generous for a loaded machine.
BOOT_TIMEOUT = 120.0
# nspawn's state directories for a machine; a power cut leaves them behind (they hold no mount).
NSPAWN_RUN_DIRS = (Path("/run/systemd/nspawn/propagate"), Path("/run/systemd/nspawn/unix-export"))
NSPAWN_LOCKS = Path("/run/systemd/nspawn/locks")
# Where power.sh makes each host's cgroup, in the hierarchies systemd uses (v2, and v1's name=systemd).
CGROUP_PARENT = "raindrop-sandbox"
CGROUP_ROOTS = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup/systemd"), Path("/sys/fs/cgroup"))


def _mount_points() -> list[str]:
    """Every mount point of this (the machine's) mount namespace, from /proc/self/mountinfo."""
    return [line.split()[4].encode().decode("unicode_escape") for line in Path("/proc/self/mountinfo").open()]


def _namespace_pid(pid: int) -> list[str]:
    """The pid of `pid` in each nested PID namespace, outermost first (the NSpid line of its status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return line.split()[1:]
    return []


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
    def _power_pid_file(self) -> Path:
        return self.settings.directory / "power.pid"

    @property
    def console_log(self) -> Path:
        """What systemd printed on the host's console, boot after boot."""
        return self.settings.directory / "console.log"

    def power_pid(self) -> int | None:
        """The machine-side pid of the power supply loop (power.sh), when it runs."""
        try:
            pid = int(self._power_pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ValueError, OSError):
            return None
        if str(POWER_PROGRAM).encode() in cmdline and f"--directory={self.settings.root}".encode() in cmdline:
            return pid
        return None

    def init_pid(self) -> int | None:
        """The machine-side pid of the host's PID 1 (systemd), when it runs.

        It is the process of the host's network namespace that is pid 1 of its own PID namespace.
        """
        for pid in sorted(network.pids_in_netns(self.settings)):
            with contextlib.suppress(OSError):
                if _namespace_pid(pid)[1:] == ["1"]:
                    return pid
        return None

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
            "nsenter", f"--target={pid}", "--pid", "--mount", "--uts", "--ipc", "--net", "--root", "--wd", "--",
            "/usr/bin/env", "-i", f"PATH={PATH}", "LANG=C.UTF-8", "HOME=/root", *argv,
        ]  # fmt: skip

    def _power_tree(self) -> set[int]:
        """The machine-side processes that run the host from outside it: the power loop and its nspawn."""
        power = self.power_pid()
        if power is None:
            return set()
        return {power, *(int(pid) for pid in run(["pgrep", "-P", str(power)], check=False).split())}

    def _inside(self) -> set[int]:
        """Machine-side pids of the processes in the host's network or PID namespace."""
        found = network.pids_in_netns(self.settings)
        init = self.init_pid()
        pid_ns = os.readlink(f"/proc/{init}/ns/pid") if init else None
        if pid_ns:
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                with contextlib.suppress(OSError):  # exited meanwhile, or a kernel thread
                    if os.readlink(entry / "ns/pid") == pid_ns:
                        found.add(int(entry.name))
        found.discard(os.getpid())
        return found

    def processes(self) -> set[int]:
        """Machine-side pids of the host's processes: the power loop and nspawn, and all in its namespaces."""
        return self._power_tree() | self._inside()

    def process_table(self) -> list[dict[str, object]]:
        """pid, uid and command line of every process inside the host, read from the machine's /proc."""
        table = []
        for pid in sorted(self._inside() - self._power_tree()):
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

    def system_state(self) -> str | None:
        """`systemctl is-system-running` inside the host: running, degraded, starting…; None when it is off."""
        if not self.running:
            return None
        completed = subprocess.run(self.in_sandbox(["systemctl", "is-system-running"]),
                                   capture_output=True, text=True, check=False)  # fmt: skip
        return completed.stdout.strip() or completed.stderr.strip()

    def failed_units(self) -> list[str]:
        """The units systemd inside the host counts as failed."""
        listing = run(self.in_sandbox(["systemctl", "list-units", "--failed", "--plain", "--no-legend"]), check=False)
        return [line.split()[0] for line in listing.splitlines() if line.strip()]

    def status(self) -> dict[str, object]:
        settings = self.settings
        return {
            "name": settings.name,
            "exists": self.exists,
            "running": self.running,
            "system": self.system_state(),
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
        if not self.running:
            self._kill_all()
            self.boot()

    def _write_known_hosts(self) -> None:
        lines = []
        for key in sorted((self.settings.root / "etc/ssh").glob("ssh_host_*_key.pub")):
            kind, blob = key.read_text().split()[:2]
            lines.append(f"{self.settings.address} {kind} {blob}\n")
        self.settings.known_hosts.write_text("".join(lines))

    # -- boot, reboot and crash ------------------------------------------------------------------------
    @property
    def cgroup(self) -> str:
        """The host's own cgroup (power.sh makes it): without one, every host's systemd would share /payload."""
        return f"{CGROUP_PARENT}/{self.settings.name}"

    def cgroup_dirs(self) -> list[Path]:
        """The host's cgroup directories in the machine's hierarchies that exist."""
        return [root / self.cgroup for root in CGROUP_ROOTS if (root / self.cgroup).is_dir()]

    def _remove_cgroups(self) -> None:
        # A cgroup goes with rmdir once it holds no process, its children first.
        for top in self.cgroup_dirs():
            for directory in sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)):
                directory.rmdir()
            top.rmdir()
            with contextlib.suppress(OSError):  # the parent stays while another host has its cgroup in it
                top.parent.rmdir()

    def nspawn_args(self) -> list[str]:
        """systemd-nspawn's arguments: boot the root's systemd inside the host's own network namespace.

        --register=no and --keep-unit: the machine's PID 1 is not systemd, so there is no machined to register
        with and no unit to create. The console goes to console.log; the host keeps its own resolv.conf,
        timezone and journal, as a server does.
        """
        settings = self.settings
        return [
            "--boot", "--register=no", "--keep-unit", "--quiet",
            f"--directory={settings.root}", f"--machine={settings.hostname}",
            f"--network-namespace-path=/run/netns/{settings.netns}",
            "--console=pipe", "--resolv-conf=off", "--timezone=off", "--link-journal=no",
            # An ECS kernel gives systemd a hard limit of 524288 open files. Raising a hard limit needs
            # CAP_SYS_RESOURCE, which the build machine lacks: there the host keeps the machine's (20000).
            f"--rlimit=RLIMIT_NOFILE={HOST_NOFILE_LIMIT}",
        ]  # fmt: skip

    def _start_power(self) -> None:
        self._power_pid_file.unlink(missing_ok=True)
        argv = ["/bin/bash", str(POWER_PROGRAM), str(self._power_pid_file), self.cgroup, *self.nspawn_args()]
        with self.console_log.open("ab") as console:
            power = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=console, stderr=console,
                                     start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 15
        while self.power_pid() is None:
            if power.poll() is not None or time.monotonic() > deadline:
                raise SandboxError(f"sandbox {self.settings.name}: power.sh did not start: {self._console_tail()}")
            time.sleep(0.02)

    def wait_booted(self, timeout: float = BOOT_TIMEOUT) -> str:
        """Wait until systemd inside has finished booting and sshd answers; returns the system state."""
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            if self.power_pid() is None and not self.running:
                raise SandboxError(f"sandbox {self.settings.name}: systemd-nspawn exited: {self._console_tail()}")
            state = self.system_state()
            if state in ("running", "degraded"):
                break
            time.sleep(0.2)
        else:
            raise SandboxError(
                f"sandbox {self.settings.name}: not booted after {timeout:.0f}s (state {state}): {self._console_tail()}"
            )
        if state == "degraded":
            self.log(f"sandbox {self.settings.name}: booted degraded; failed units: {', '.join(self.failed_units())}")
        wait_for_port(self.settings.address, 22, timeout=max(5.0, deadline - time.monotonic()))
        return state

    def _console_tail(self) -> str:
        return self.console_log.read_text(errors="replace")[-1500:] if self.console_log.exists() else "(no console)"

    def active_services(self) -> list[str]:
        """The service units running inside the host, without their .service suffix."""
        listing = run(self.in_sandbox(["systemctl", "list-units", "--type=service", "--state=running",
                                       "--plain", "--no-legend"]))  # fmt: skip
        return sorted(line.split()[0].removesuffix(".service") for line in listing.splitlines() if line.strip())

    def boot(self) -> list[str]:
        """Power on: systemd-nspawn boots the root to multi-user.target. Returns the services then running."""
        if self.running or self.power_pid() is not None:
            raise SandboxError(f"sandbox {self.settings.name} is already running; crash it first to reboot")
        self._start_power()
        self.wait_booted()
        return self.active_services()

    def reboot(self) -> list[str]:
        """`systemctl reboot` inside the host, as a user would; the power supply boots it again."""
        old = self.init_pid()
        if old is None:
            raise SandboxError(f"sandbox {self.settings.name} is not running")
        run(self.in_sandbox(["systemctl", "reboot"]))
        deadline = time.monotonic() + BOOT_TIMEOUT
        while (pid := self.init_pid()) in (old, None):
            if time.monotonic() > deadline:
                raise SandboxError(f"sandbox {self.settings.name}: did not come back from reboot")
            if pid is None and self.power_pid() is None:
                raise SandboxError(f"sandbox {self.settings.name}: powered off instead of rebooting")
            time.sleep(0.1)
        self.wait_booted()
        return self.active_services()

    def crash(self) -> None:
        """Pull the plug: SIGKILL the power supply, nspawn and the host's PID 1, so every process dies."""
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
        self._remove_cgroups()
        for leftover in self._nspawn_leftovers():
            if str(leftover) not in _mount_points():
                run(["rm", "-rf", "--one-file-system", str(leftover)])
        if settings.directory.exists():
            # --one-file-system: even if a mount slipped in, never recurse into the machine's /dev or /proc.
            run(["rm", "-rf", "--one-file-system", str(settings.directory)])

    def _nspawn_leftovers(self) -> list[Path]:
        """What systemd-nspawn keeps in /run for this host: its propagation directories and the root's lock."""
        found = [parent / self.settings.hostname for parent in NSPAWN_RUN_DIRS]
        with contextlib.suppress(FileNotFoundError):
            root = os.stat(self.settings.root)
            found.append(NSPAWN_LOCKS / f"inode-{root.st_dev}:{root.st_ino}")
        return [path for path in found if path.exists()]

    def _kill_all(self) -> None:
        # The power loop first, so that it cannot boot the host again; then everything of the host.
        power = self.power_pid()
        if power is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(power, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pids := self.processes():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                raise SandboxError(f"sandbox {self.settings.name}: processes survive SIGKILL: {sorted(pids)}")
            time.sleep(0.05)
        self._power_pid_file.unlink(missing_ok=True)
