"""Rules that both halves of the program share, owned by neither.

`infra` (the cloud half) must not import `app` (the deploy half), yet both check secrets by the same rule:
infra/stack_config.py when it reads a password from the stack config, app/steps when it writes one onto a host.
The rule lives here so there is one copy of it and the layers stay one way (app → infra → contracts).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

# Letters, digits and . _ - only: a value then needs no quoting in a database URL, a SQL string, a shell
# word or redis.conf. Generate them so (e.g. pulumi_random RandomPassword with special=False).
SAFE_SECRET = re.compile(r"^[A-Za-z0-9._-]{16,256}$")
# What a refused secret is told, without its value.
SAFE_SECRET_RULE = "must be 16-256 characters of A-Z a-z 0-9 . _ -"  # noqa: S105 (a message, not a password)

# bcrypt reads only the first 72 bytes of a password. The admin password is hashed with bcrypt for nginx's
# basic auth (app.render.htpasswd_line), so a longer one is refused rather than silently cut.
BCRYPT_MAX_BYTES = 72

# Where the server answers its health check (server/src/raindrop_server/health.py): the deploy's health gate
# (app.steps.host) and the load balancer's health check (infra/scaleout.py) both ask it.
HEALTH_PATH = "/api/health"

# A DNS host name with a top-level domain, lowercase (the site's domain, a CDN domain): what both the stack config
# (infra/stack_config.py) and the templates (app/render.py, which also serves the sandbox) accept.
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")

# raindrop_tls on a host: where TLS ends (config/defaults.yml). The stack config offers all but `offloaded`, which
# is what scale-out hosts are told (TLS ends at the CLB).
HOST_TLS_MODES = ("acme", "provided", "offloaded", "none")

# The stack config's namespace: every `raindrop:` key (infra/stack_config.py reads them, ConfigError names them).
STACK_NAMESPACE = "raindrop"


class ConfigError(ValueError):
    """A setting the program refuses, named in the message without the value of a secret.

    `ConfigError(key, problem)`: a stack config key (infra/stack_config.py); `.key` is `raindrop:<key>` and the message
    starts with it. `ConfigError(message)`: a template variable (app/render.py), named in the message; `.key` is
    None. One class for both, so a caller (the Pulumi entry point, a test) catches one kind of refusal.
    """

    def __init__(self, key_or_message: str, problem: str | None = None) -> None:
        if problem is None:
            self.key: str | None = None
            super().__init__(key_or_message)
        else:
            self.key = f"{STACK_NAMESPACE}:{key_or_message}"
            super().__init__(f"{self.key}: {problem}")


# The host's documented defaults: every template variable and its default (app.render renders with them).
DEFAULTS_FILE = Path(__file__).resolve().parent / "config" / "defaults.yml"


@cache
def _defaults() -> dict[str, Any]:
    return yaml.safe_load(DEFAULTS_FILE.read_text())


def template_default(name: str) -> Any:
    """The default of one template variable, for the cloud half (which must not import app.render)."""
    return _defaults()[name]
