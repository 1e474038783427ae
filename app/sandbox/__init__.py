"""A fresh Debian 12 host on this machine, to prove the host steps end to end.

The host is a debootstrap'd root (bookworm, cached as a tarball under /var/cache/raindrop-sandbox) booted by
systemd-nspawn, so systemd is its PID 1 as on an ECS instance, in its own network namespace joined by a veth
pair on a private /30 (the machine is .1, the host .2), with sshd and a generated ed25519 key, and apt through
a tinyproxy on the machine's end that lets only the Debian mirror through. `up` then deploys
to it over SSH with the very same scripts, in the same order and with the same triggers, as the Pulumi
program's remote commands on ECS.

    python -m app.sandbox up [--fresh] [--bundle dist/raindrop-<hash>.tar.gz] [--always] [--host-only]
    python -m app.sandbox down | status | crash | boot | reboot
    --name / RAINDROP_SANDBOX_NAME (default raindrop), --subnet / RAINDROP_SANDBOX_SUBNET (10.213.1.0/30),
    RAINDROP_SANDBOX_MIRROR (default: the machine's own Debian mirror)

`up`'s last stdout line is JSON: url, admin_url, ssh, key, admin_user, admin_password. `crash` is a power
cut (every process SIGKILLed, /run lost); `boot` powers it on (systemd starts what is enabled, in unit
order); `reboot` is `systemctl reboot` inside, after which app/sandbox/power.sh boots it again.
"""

from app.sandbox.host import Sandbox
from app.sandbox.settings import SandboxSettings

__all__ = ["Sandbox", "SandboxSettings"]
