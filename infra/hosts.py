"""`raindrop:hosts`: servers that already exist, as the same Host seam the ECS instances give the deploy.

Nothing is registered here: no provider, no key pair, no instance. The user's own key (secret config) is
what logs in.
"""

from __future__ import annotations

import re

import pulumi

from infra.server import Host
from infra.stack_config import ExistingHost


def host_name(address: str) -> str:
    """The resource-name stem of a host: from its address, so reordering the list renames nothing and
    removing a host deletes (and so tears down) only its own commands."""
    return "host-" + re.sub(r"[^a-z0-9.-]", "-", address.lower())


def existing_hosts(hosts: tuple[ExistingHost, ...], private_key: pulumi.Output[str]) -> list[Host]:
    """One Host per `raindrop:hosts` entry, in the order given (the order they are deployed in)."""
    return [
        Host(
            name=host_name(h.address),
            instance=None,
            address=pulumi.Output.from_input(h.address),
            private_address=pulumi.Output.from_input(h.address),
            user=h.user,
            private_key=pulumi.Output.secret(private_key),
            port=h.port,
        )
        for h in hosts
    ]
