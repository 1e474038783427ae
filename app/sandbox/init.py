"""PID 1 of a sandbox host: mounts its file systems, enters its root, then reaps orphans until killed.

Started by host.py inside the sandbox's network namespace and fresh PID, mount and UTS namespaces
(`unshare --pid --fork --mount --uts`). Everything else in the sandbox enters those namespaces with
nsenter, so the host's processes are invisible to it (its `ps`, `pkill` and init scripts' `killall`
cannot touch the machine's own services), and killing this process is a power cut: the kernel kills
every process of the sandbox and its mounts go with its mount namespace.

Standalone on purpose (no app imports): it runs with the machine's Python before the chroot.
Usage: init.py ROOT HOSTNAME PID_FILE
"""

import os
import signal
import socket
import subprocess
import sys
import time

# Inside this process's private mount namespace: none of these is visible on the machine.
MOUNTS = (
    ("proc", ["-t", "proc", "-o", "nosuid,nodev,noexec", "proc"]),
    ("sys", ["-t", "sysfs", "-o", "ro,nosuid,nodev,noexec", "sysfs"]),
    ("dev", ["--rbind", "/dev"]),
    ("run", ["-t", "tmpfs", "-o", "nosuid,nodev,mode=755", "tmpfs"]),
)


def main(root: str, hostname: str, pid_file: str) -> None:
    # The pid as the machine sees it, read from the machine's /proc before ours replaces it.
    outer_pid = os.readlink("/proc/self")
    # Opened now: after the chroot the machine's side of the file system is out of reach.
    ready = os.open(pid_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    for name, options in MOUNTS:
        subprocess.run(["mount", *options, os.path.join(root, name)], check=True)
    os.makedirs(os.path.join(root, "run/lock"), mode=0o1777, exist_ok=True)
    socket.sethostname(hostname)
    os.chroot(root)
    os.chdir("/")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    os.write(ready, f"{outer_pid}\n".encode())
    os.close(ready)
    # Orphaned daemons are re-parented to PID 1: reap them, as an init does.
    while True:
        try:
            os.wait()
        except ChildProcessError:
            time.sleep(1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
