"""Where a sandbox lives and how it is addressed, derived from its name and subnet."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

STATE_ROOT = Path("/var/lib/raindrop-sandbox")
CACHE_DIR = Path("/var/cache/raindrop-sandbox")
DEFAULT_NAME = "raindrop"
DEFAULT_SUBNET = "10.213.1.0/30"
PROXY_PORT = 8888

# Interface names are at most 15 characters and get a 4-character prefix.
_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,10}$")


@dataclass(frozen=True)
class SandboxSettings:
    """One sandbox host: its name picks the paths and device names, its /30 picks the addresses."""

    name: str = DEFAULT_NAME
    subnet: str = DEFAULT_SUBNET
    state_root: Path = STATE_ROOT
    cache_dir: Path = CACHE_DIR

    def __post_init__(self) -> None:
        if not _NAME_PATTERN.match(self.name):
            raise ValueError(
                f"sandbox name {self.name!r} must be 1-11 characters of a-z, 0-9 and '-', starting with a letter"
            )
        problem = f"sandbox subnet {self.subnet!r} must be a private IPv4 /30 network, like 10.213.1.0/30"
        try:
            network = ipaddress.ip_network(self.subnet, strict=True)
        except ValueError as error:
            raise ValueError(f"{problem} ({error})") from None
        if network.version != 4 or network.prefixlen != 30 or not network.is_private:
            raise ValueError(problem)

    @classmethod
    def from_env(cls, name: str | None = None, subnet: str | None = None) -> SandboxSettings:
        """Arguments first, then RAINDROP_SANDBOX_NAME / RAINDROP_SANDBOX_SUBNET, then what an existing
        host of that name recorded, then the defaults."""
        name = name or os.environ.get("RAINDROP_SANDBOX_NAME") or DEFAULT_NAME
        subnet = subnet or os.environ.get("RAINDROP_SANDBOX_SUBNET")
        if subnet is None:
            subnet = cls(name=name).recorded_subnet() or DEFAULT_SUBNET
        return cls(name=name, subnet=subnet)

    def recorded_subnet(self) -> str | None:
        """The subnet an existing host of this name was made with, if there is one."""
        try:
            return str(json.loads(self.state_file.read_text())["subnet"])
        except (FileNotFoundError, KeyError, ValueError):
            return None

    @property
    def directory(self) -> Path:
        return self.state_root / self.name

    @property
    def root(self) -> Path:
        """The host's root file system, the chroot."""
        return self.directory / "root"

    @property
    def ssh_dir(self) -> Path:
        return self.directory / "ssh"

    @property
    def key_path(self) -> Path:
        """The private key that logs in as root."""
        return self.ssh_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh_dir / "known_hosts"

    @property
    def proxy_dir(self) -> Path:
        return self.directory / "proxy"

    @property
    def state_file(self) -> Path:
        return self.directory / "sandbox.json"

    @property
    def netns(self) -> str:
        return f"rdsb-{self.name}"

    @property
    def veth_host(self) -> str:
        """The host end of the veth pair; the sandbox end is called eth0 inside the namespace."""
        return f"rdsb-{self.name}"

    @property
    def hostname(self) -> str:
        return f"raindrop-{self.name}"

    @property
    def host_address(self) -> str:
        """The host end of the /30: the tinyproxy address as the sandbox sees it."""
        return str(ipaddress.ip_network(self.subnet)[1])

    @property
    def address(self) -> str:
        """The sandbox end of the /30: where its sshd and nginx listen."""
        return str(ipaddress.ip_network(self.subnet)[2])

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    @property
    def proxy_url(self) -> str:
        return f"http://{self.host_address}:{PROXY_PORT}"
