"""Deploy Raindrop to a sandbox host with the very same host steps the Pulumi program runs.

The order is app/deployment.py's, per host: secrets → provision → bundle upload → deploy. Only the
transport differs: SSH through app/executor.py instead of pulumi_command.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import secrets as token_source
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.sandbox.host import Sandbox
from app.sandbox.system import Log
from app.steps.host import SECRET_NAMES

if TYPE_CHECKING:
    from app.release import Release

REQUIRED_MODULES = ("app.release", "app.render", "app.steps.files", "app.steps.provision", "app.steps.deploy")


# Where a sandbox deploy puts the CA bundle certbot trusts for a private ACME directory (e.g. the tests' pebble).
ACME_CA_BUNDLE_PATH = "/etc/raindrop/acme-ca.pem"


@dataclass(frozen=True)
class SandboxTls:
    """HTTPS for a sandbox deploy: raindrop_tls and its companions (config/defaults.yml), and a local CA file
    that the host's certbot trusts for `directory` (uploaded before the steps run)."""

    mode: str = "none"
    domain: str = ""
    email: str = ""
    directory: str = ""
    ca_bundle: Path | None = None

    def values(self) -> dict[str, Any]:
        """The template values; the same checks as any deploy's (app.render) refuse bad ones by name."""
        values: dict[str, Any] = {"raindrop_tls": self.mode, "raindrop_site_domain": self.domain,
                                  "raindrop_acme_email": self.email}
        if self.directory:
            values["raindrop_acme_directory"] = self.directory
        if self.ca_bundle is not None:
            if not Path(self.ca_bundle).is_file():
                raise ValueError(f"ACME CA bundle {self.ca_bundle} is not a file")
            values["raindrop_acme_ca_bundle"] = ACME_CA_BUNDLE_PATH
        return values


class DeployStepsMissing(RuntimeError):
    """The host exists but there is nothing to deploy with yet."""


def _missing_modules() -> list[str]:
    missing = []
    for module in REQUIRED_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            # A missing module of ours means the steps are not written yet; a missing library is a real error.
            if error.name is None or error.name.split(".")[0] != "app":
                raise
            missing.append(module if error.name == module else f"{module} (needs {error.name})")
    return missing


def sandbox_values(sandbox: Sandbox) -> dict[str, Any]:
    """Template values for a sandbox: the admin port answers the machine, which is the veth's host end; one web
    process per core, and the host has this machine's cores (RAINDROP_SANDBOX_WEB_PROCESSES overrides)."""
    processes = os.environ.get("RAINDROP_SANDBOX_WEB_PROCESSES") or str(len(os.sched_getaffinity(0)))
    if not processes.isdigit() or int(processes) < 1:
        raise ValueError(f"RAINDROP_SANDBOX_WEB_PROCESSES must be a positive integer, got {processes!r}")
    return {"raindrop_admin_cidrs": [sandbox.settings.subnet], "raindrop_gunicorn_processes": int(processes)}


def host_secrets(sandbox: Sandbox) -> dict[str, str]:
    """The host's secrets: made once per host and kept (mode 600) beside it, so a redeploy reuses them."""
    path = sandbox.settings.directory / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    # token_urlsafe uses A-Z a-z 0-9 - _ only: the characters the secrets step accepts.
    values = {name: token_source.token_urlsafe(24) for name in SECRET_NAMES}
    path.touch(mode=0o600)
    path.write_text(json.dumps(values))
    return values


class _Triggers:
    """Pulumi's `triggers`, kept beside the host: a step runs again only when its triggers change.

    Recorded after a step succeeds, so a failed step runs again next time, as a failed create does.
    """

    def __init__(self, sandbox: Sandbox, always: bool) -> None:
        self._path = sandbox.settings.directory / "applied.json"
        self._always = always
        self._applied: dict[str, str] = json.loads(self._path.read_text()) if self._path.exists() else {}

    def run(self, step: str, triggers: list[str], action: Callable[[], object], log: Log) -> None:
        digest = hashlib.sha256("\0".join(triggers).encode()).hexdigest()
        if not self._always and self._applied.get(step) == digest:
            log(f"--- {step}: triggers unchanged, not run")
            return
        action()
        self._applied[step] = digest
        self._path.touch(mode=0o600)
        self._path.write_text(json.dumps(self._applied, indent=1))


def deploy(
    sandbox: Sandbox, bundle: str | Path | None = None, release: Release | None = None, *, always: bool = False,
    tls: SandboxTls | None = None,
) -> dict[str, str]:
    """Deploy `release` (or the bundle at `bundle`, or one built from the current sources) to the host.

    As `pulumi up` does, each step runs only when its triggers changed since it last succeeded here
    (`always` runs them all). Returns what `up` prints last: url, admin_url, ssh, key, admin_user,
    admin_password.
    """
    missing = _missing_modules()
    if missing:
        raise DeployStepsMissing(
            f"the host {sandbox.settings.address} is up, but the deploy steps are missing: "
            f"{', '.join(missing)}; nothing was deployed "
            f"(ssh -i {sandbox.settings.key_path} root@{sandbox.settings.address} reaches the bare host)"
        )
    from app import render
    from app.release import build_release, open_release
    from app.steps.deploy import deploy as deploy_step
    from app.steps.deploy import files_hash
    from app.steps.files import host_config, secret_files
    from app.steps.plan import STEP_ORDER, digest, step_triggers
    from app.steps.provision import provision
    from app.steps.secrets import write_secrets

    if release is None:
        # open_release checks the bundle's content against its name, as `pulumi up` does with releaseArchive.
        release = open_release(Path(bundle)) if bundle else build_release()
    tls = tls or SandboxTls()
    values = {**sandbox_values(sandbox), **tls.values()}
    render.config_variables({**values, **{f"raindrop_{name}": "x" * 16 for name in SECRET_NAMES}})
    secrets = host_secrets(sandbox)
    config = host_config(values, apt_proxy=sandbox.settings.proxy_url)
    # The same scripts and triggers as app/deployment.py's remote.Command resources.
    secrets_script = write_secrets(config, secrets, secret_files(values, secrets))
    provision_script = provision(config)
    deploy_script = deploy_step(config, release.bundle)
    step = step_triggers(
        bundle_hash=release.hash,
        config_hash=files_hash(config.system_files + config.app_files),
        provision_digest=digest(provision_script.text()),
        deploy_digest=digest(deploy_script.text()),
        secrets_digest=digest(secrets_script.text()),
    )
    triggers = _Triggers(sandbox, always)
    started = time.monotonic()
    with sandbox.executor() as executor:
        if tls.ca_bundle is not None:
            executor.put(Path(tls.ca_bundle), ACME_CA_BUNDLE_PATH)
        actions = {
            "secrets": lambda: executor.run(secrets_script),
            "provision": lambda: executor.run(provision_script),
            "bundle": lambda: executor.put(release.path, release.bundle.remote_path),
            "deploy": lambda: executor.run(deploy_script),
        }
        for name in STEP_ORDER:
            triggers.run(name, step[name], actions[name], sandbox.log)
    sandbox.log(
        f"sandbox {sandbox.settings.name}: release {release.hash} deployed in {time.monotonic() - started:.1f}s"
    )
    variables = render.config_variables({**values, **{f"raindrop_{name}": value for name, value in secrets.items()}})
    on_host = variables["raindrop_tls"] in render.TLS_ON_HOST
    scheme = "https" if on_host else "http"
    info = sandbox.connection_info()
    if on_host:
        # Browsers reach the site by its name (the certificate's); the sandbox's address is in "ssh".
        info["url"] = f"https://{variables['raindrop_site_domain']}/"
    return {
        **info,
        "admin_url": f"{scheme}://{sandbox.settings.address}:{variables['raindrop_admin_port']}/",
        "admin_user": str(variables["raindrop_admin_user"]),
        "admin_password": secrets["admin_password"],
    }
