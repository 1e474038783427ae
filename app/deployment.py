"""`raindrop:app:Deployment`: the host steps of app/steps mapped onto pulumi-command, host after host.

Per host, in app.steps.plan's order: secrets → provision → bundle upload → deploy. Each host's deploy
waits for the previous host's deploy, whose script ends with the health gate, so a bad release stops at the
first host (the seed's `env.hosts` deployed one after another too).

Secrets: only the secrets step carries them. Its script is a secret Output and its logging is off, so the
values never reach the diff, the state in clear or the console (pulumi-command #111, #260). Every other
script names secrets by token and is safe to show. Secrets the stack does not give (`raindrop:hosts`) the
secrets step generates on the host; they never pass through Pulumi at all.

A host whose user is not root gets every script through `sudo -n bash -s` (passwordless sudo, as on most
cloud images' default users). Nothing goes through pulumi-command's `environment`, which needs the SSH
server's AcceptEnv (#48, #430).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_command import local, remote

from app.steps import Bundle
from app.steps.deploy import deploy, files_hash
from app.steps.files import host_config, secret_files
from app.steps.plan import digest, step_triggers
from app.steps.provision import provision
from app.steps.secrets import write_secrets
from app.steps.teardown import teardown
from infra.server import Host

# ECS boot (image → sshd answering) takes about a minute and can take several; keep dialing for ~10 min.
DIAL_ERROR_LIMIT = 60
PER_DIAL_TIMEOUT_SECONDS = 10


@dataclass
class DeploymentArgs:
    hosts: Sequence[Host]
    # The config/ template variables, without secrets. An Output in scale-out (managed service addresses).
    template_values: pulumi.Input[Mapping[str, Any]]
    bundle: Bundle
    bundle_path: str  # the local .tar.gz the bundle hash describes
    secrets: Mapping[str, pulumi.Output[str]]  # app.steps.host names → secret values
    # app.steps.host names of the secrets each host makes itself the first time (and keeps).
    generated_secrets: Sequence[str] = ()
    # HostConfig settings that are not template variables (apt mirror, …).
    host_settings: Mapping[str, Any] = field(default_factory=dict)
    # index.html pointed at OSS/CDN (None: nginx serves the bundle's own), and what must finish first (the
    # asset upload it points at).
    client_index: pulumi.Input[str] | None = None
    after: Sequence[pulumi.Resource] = field(default_factory=list)


class Deployment(pulumi.ComponentResource):
    """Provisions and deploys every host, one after another."""

    def __init__(self, name: str, args: DeploymentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("raindrop:app:Deployment", name, None, opts)
        values = pulumi.Output.from_input(args.template_values)
        config = pulumi.Output.all(values, args.client_index).apply(
            lambda a: host_config(a[0], client_index=a[1], **args.host_settings)
        )
        provision_script = config.apply(lambda c: provision(c).text())
        deploy_script = config.apply(lambda c: deploy(c, args.bundle).text())
        teardown_script = config.apply(lambda c: teardown(c).text())
        config_hash = config.apply(lambda c: files_hash(c.system_files + c.app_files))
        generated = tuple(args.generated_secrets)
        # Output.all() of nothing is a list, not a mapping: every secret generated on the host is that case.
        given = pulumi.Output.all(**args.secrets) if args.secrets else pulumi.Output.from_input({})
        # The only script with secrets in it: a secret Output (and so a secret trigger), never logged.
        secrets_script = pulumi.Output.secret(
            pulumi.Output.all(config, values, given).apply(
                lambda a: write_secrets(a[0], a[2], secret_files(a[1], a[2], generated), generated).text()
            )
        )
        triggers = step_triggers(
            bundle_hash=args.bundle.hash,
            config_hash=config_hash,
            provision_digest=provision_script.apply(digest),
            deploy_digest=deploy_script.apply(digest),
            # Derived from the secret script, so itself secret (stored encrypted, never shown).
            secrets_digest=pulumi.Output.secret(secrets_script.apply(digest)),
        )

        self.deploys: list[remote.Command] = []
        previous: remote.Command | None = None
        for host in args.hosts:
            connection = remote.ConnectionArgs(
                host=host.address,
                port=host.port,
                user=host.user,
                private_key=host.private_key,
                dial_error_limit=DIAL_ERROR_LIMIT,
                per_dial_timeout=PER_DIAL_TIMEOUT_SECONDS,
            )
            sudo = host.user != "root"

            def on_host(*depends: pulumi.Resource, instance: pulumi.Resource | None = host.instance
                        ) -> pulumi.ResourceOptions:
                # An existing host (raindrop:hosts) has no instance in the stack to wait for.
                waits = [r for r in (instance, *depends) if r is not None]
                return pulumi.ResourceOptions(parent=self, depends_on=waits)

            def run(script: pulumi.Output[str], sudo: bool = sudo) -> pulumi.Output[str]:
                return script.apply(lambda text: as_root(text, sudo=sudo))

            secrets = remote.Command(
                f"{host.name}-secrets",
                connection=connection,
                create=pulumi.Output.secret(run(secrets_script)),
                triggers=triggers["secrets"],
                logging=remote.Logging.NONE,
                opts=on_host(),
            )
            provisioned = remote.Command(
                f"{host.name}-provision",
                connection=connection,
                create=run(provision_script),
                triggers=triggers["provision"],
                opts=on_host(secrets),
            )
            uploaded = remote.CopyToRemote(
                f"{host.name}-bundle",
                connection=connection,
                source=pulumi.FileAsset(args.bundle_path),
                remote_path=args.bundle.remote_path,
                triggers=triggers["bundle"],
                opts=on_host(provisioned),
            )
            deployed = remote.Command(
                f"{host.name}-deploy",
                connection=connection,
                create=run(deploy_script),
                triggers=triggers["deploy"],
                opts=on_host(uploaded, *args.after, *([previous] if previous else [])),
            )
            # `pulumi destroy` (or removing a host) stops the app on it first, but must not fail when the host
            # is already gone: remote.Command's delete would, so this runs locally and tolerates no answer.
            local.Command(
                f"{host.name}-teardown",
                delete=teardown_script.apply(lambda text, sudo=sudo: teardown_over_ssh(text, sudo=sudo)),
                # A local command: this environment is the local process's own, no AcceptEnv involved.
                environment={"RAINDROP_HOST": host.address, "RAINDROP_SSH_USER": host.user,
                             "RAINDROP_SSH_PORT": str(host.port), "RAINDROP_SSH_KEY": host.private_key},
                logging=local.Logging.STDOUT_AND_STDERR,
                opts=on_host(deployed),
            )
            self.deploys.append(deployed)
            previous = deployed

        self.register_outputs({})


def as_root(script: str, *, sudo: bool) -> str:
    """The command that runs `script` as root: itself for root, else fed to `sudo -n bash -s`.

    Base64 on stdin, so no quoting in the script can break out; `-n`: fail at once rather than wait for a
    password prompt nobody answers.
    """
    if not sudo:
        return script
    encoded = base64.b64encode(script.encode()).decode()
    return f"echo {encoded} | base64 -d | sudo -n bash -s\n"


def teardown_over_ssh(script: str, *, sudo: bool = False) -> str:
    """A local bash script that runs `script` on $RAINDROP_HOST (port $RAINDROP_SSH_PORT) over SSH.

    An unreachable host (ssh's own exit status 255) counts as already torn down; a script that ran and failed
    still fails the delete, with its output.
    """
    encoded = base64.b64encode(script.encode()).decode()
    remote_shell = "sudo -n bash -s" if sudo else "bash -s"
    return (
        "set -u\n"
        'key=$(mktemp); trap \'rm -f "$key"\' EXIT; printf "%s\\n" "$RAINDROP_SSH_KEY" > "$key"\n'
        f"echo {encoded} | base64 -d | ssh -i \"$key\" -o BatchMode=yes -o ConnectTimeout=10 "
        '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -p "${RAINDROP_SSH_PORT:-22}" '
        f'"$RAINDROP_SSH_USER@$RAINDROP_HOST" {remote_shell}\n'
        "status=$?\n"
        'if [ $status -eq 255 ]; then\n'
        '  echo "host $RAINDROP_HOST is unreachable or gone: nothing to tear down"; exit 0\n'
        "fi\n"
        "exit $status\n"
    )
