"""Which Debian mirror the sandbox uses: RAINDROP_SANDBOX_MIRROR, or the one this machine's apt uses."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Deb822

from app.sandbox.system import SandboxError

HOST_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
SUITE = "bookworm"


@dataclass(frozen=True)
class Mirror:
    """The archive and the security archive, as http URLs the sandbox's apt reaches through the proxy."""

    archive: str
    security: str

    def sources(self) -> str:
        """A deb822 sources file like a fresh Debian 12 server's: the release, its updates and security."""
        keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
        return (
            f"Types: deb\nURIs: {self.archive}\nSuites: {SUITE} {SUITE}-updates\nComponents: main\n"
            f"Signed-By: {keyring}\n\n"
            f"Types: deb\nURIs: {self.security}\nSuites: {SUITE}-security\nComponents: main\n"
            f"Signed-By: {keyring}\n"
        )


def find_mirror(sources_file: Path = HOST_SOURCES) -> Mirror:
    """RAINDROP_SANDBOX_MIRROR wins; otherwise read the host's deb822 sources."""
    override = os.environ.get("RAINDROP_SANDBOX_MIRROR")
    if override:
        archive = override.rstrip("/")
        return Mirror(archive=archive, security=_security_next_to(archive))
    if not sources_file.exists():
        raise SandboxError(
            f"no Debian mirror: {sources_file} is missing; set RAINDROP_SANDBOX_MIRROR to an http Debian mirror"
        )
    archive = security = None
    with sources_file.open() as handle:
        for paragraph in Deb822.iter_paragraphs(handle):
            uris = paragraph.get("URIs", "").split()
            suites = paragraph.get("Suites", "").split()
            if not uris:
                continue
            if any(suite.endswith("-security") for suite in suites):
                security = security or uris[0].rstrip("/")
            elif SUITE in suites:
                archive = archive or uris[0].rstrip("/")
    if archive is None:
        raise SandboxError(f"no {SUITE} entry in {sources_file}; set RAINDROP_SANDBOX_MIRROR")
    return Mirror(archive=archive, security=security or _security_next_to(archive))


def _security_next_to(archive: str) -> str:
    """deb.debian.org/debian -> deb.debian.org/debian-security, the usual layout of a full mirror."""
    return archive + "-security" if archive.endswith("/debian") else archive.rsplit("/", 1)[0] + "/debian-security"
