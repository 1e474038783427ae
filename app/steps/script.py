"""The unit every host step returns, and every executor runs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Script:
    """A named bash script to run as root on one host. Pure data: nothing here executes it.

    `secret` marks a body that carries a secret (a password, a key): executors must not print it, and
    the Pulumi wiring passes it as a secret Output with logging turned off.
    """

    name: str
    body: str
    secret: bool = False

    def text(self) -> str:
        """The full script as the host's bash runs it, failing on the first error."""
        return "#!/bin/bash\nset -euo pipefail\n" + self.body.rstrip("\n") + "\n"
