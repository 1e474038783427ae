"""Running the host's own programs (ip, mount, debootstrap, ...) with errors that say what failed."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Sequence

# Where progress messages go: print to stdout for the CLI, a list in tests.
Log = Callable[[str], None]


class SandboxError(RuntimeError):
    """A sandbox operation failed; the message names the step and the program's own words."""


# The Debian package of each program the sandbox runs on the machine, for the error when one is missing.
PACKAGES = {
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "nsenter": "util-linux",
    "ip": "iproute2",
    "tinyproxy": "tinyproxy",
    "ssh-keygen": "openssh-client",
    "pgrep": "procps",
    "tar": "tar",
}


def missing_program(program: str) -> SandboxError:
    """The one-line error for a program that is not installed, naming its Debian package."""
    package = PACKAGES.get(program, program)
    return SandboxError(f"{program} is not installed: apt-get install {package} (or make deps)")


def run(argv: Sequence[str], *, check: bool = True, input_text: str | None = None) -> str:
    """Run `argv`, return its stdout; on failure raise SandboxError with the command and its stderr."""
    try:
        completed = subprocess.run(list(argv), input=input_text, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise missing_program(argv[0]) from None
    if check and completed.returncode != 0:
        output = (completed.stderr or completed.stdout).strip()[-2000:]
        raise SandboxError(f"`{shlex.join(argv)}` exited {completed.returncode}: {output}")
    return completed.stdout


def succeeds(argv: Sequence[str]) -> bool:
    """True when `argv` exits 0; its output is discarded. For probes like "does this netns exist"."""
    try:
        return subprocess.run(list(argv), capture_output=True, check=False).returncode == 0
    except FileNotFoundError:
        raise missing_program(argv[0]) from None
