"""The sandbox's network: its own namespace, joined to the host by a veth pair on a private /30.

There is no default route inside: the sandbox reaches the host end of the veth (the apt proxy) and
nothing else, and the host reaches the sandbox's address.
"""

from __future__ import annotations

from app.sandbox.settings import SandboxSettings
from app.sandbox.system import SandboxError, run, succeeds


def netns_exists(settings: SandboxSettings) -> bool:
    return settings.netns in run(["ip", "netns", "list"]).split()


def veth_exists(settings: SandboxSettings) -> bool:
    return succeeds(["ip", "link", "show", "dev", settings.veth_host])


def _check_subnet_free(settings: SandboxSettings) -> None:
    """Refuse a /30 that the host already routes, e.g. another sandbox's."""
    routes = run(["ip", "-4", "route", "show", "to", "match", settings.address]).splitlines()
    for route in routes:
        if not route.startswith("default"):
            raise SandboxError(
                f"subnet {settings.subnet} is already in use on this machine ({route.strip()}); "
                "pick another with --subnet or RAINDROP_SANDBOX_SUBNET"
            )


def create(settings: SandboxSettings) -> None:
    _check_subnet_free(settings)
    ns, host_end = settings.netns, settings.veth_host
    run(["ip", "netns", "add", ns])
    run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", ns])
    run(["ip", "addr", "add", f"{settings.host_address}/{settings.prefixlen}", "dev", host_end])
    run(["ip", "link", "set", host_end, "up"])
    inside = ["ip", "-n", ns]
    run([*inside, "addr", "add", f"{settings.address}/{settings.prefixlen}", "dev", "eth0"])
    run([*inside, "link", "set", "lo", "up"])
    run([*inside, "link", "set", "eth0", "up"])


def delete(settings: SandboxSettings) -> None:
    """Remove the veth pair and the namespace; each is skipped when it is already gone."""
    if veth_exists(settings):
        run(["ip", "link", "delete", settings.veth_host])
    if netns_exists(settings):
        run(["ip", "netns", "delete", settings.netns])


def pids_in_netns(settings: SandboxSettings) -> set[int]:
    if not netns_exists(settings):
        return set()
    return {int(pid) for pid in run(["ip", "netns", "pids", settings.netns]).split()}
