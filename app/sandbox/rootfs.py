"""The sandbox's root file system: a pristine debootstrap of Debian 12, cached twice.

debootstrap's own `--make-tarball` keeps the downloaded packages, so a rebuild never downloads again; the
finished, not yet personalised root is kept as a second tarball, so a new host is one `tar -x` plus what
a cloud image does on first boot (new machine id, new SSH host keys).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import uuid
from pathlib import Path

from app.sandbox.mirror import SUITE, Mirror
from app.sandbox.settings import SandboxSettings
from app.sandbox.system import Log, SandboxError, run

# What a fresh ECS Debian 12 image has on top of debootstrap's required+important set.
EXTRA_PACKAGES = ("openssh-server", "python3", "sudo", "curl", "ca-certificates")
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}


def architecture() -> str:
    machine = platform.machine()
    if machine not in ARCHITECTURES:
        raise SandboxError(f"no Debian architecture known for this machine ({machine})")
    return ARCHITECTURES[machine]


def _cache_key(mirror: Mirror) -> str:
    material = "\n".join([SUITE, architecture(), mirror.archive, *EXTRA_PACKAGES])
    return hashlib.sha256(material.encode()).hexdigest()[:12]


def package_tarball(settings: SandboxSettings, mirror: Mirror, log: Log) -> Path:
    """debootstrap's download cache: made once with --make-tarball, reused by every later build."""
    tarball = settings.cache_dir / f"debootstrap-{SUITE}-{architecture()}-{_cache_key(mirror)}.tgz"
    if tarball.exists():
        return tarball
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    work = settings.cache_dir / f"work-{os.getpid()}"
    partial = tarball.with_name(f"{tarball.name}.{os.getpid()}.partial")
    log(f"downloading Debian {SUITE} packages from {mirror.archive} (once; cached in {tarball})")
    try:
        run(
            [
                "debootstrap",
                f"--arch={architecture()}",
                f"--include={','.join(EXTRA_PACKAGES)}",
                f"--make-tarball={partial}",
                SUITE,
                str(work),
                mirror.archive,
            ]
        )
        partial.rename(tarball)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        partial.unlink(missing_ok=True)
    return tarball


def base_root_tarball(settings: SandboxSettings, mirror: Mirror, log: Log) -> Path:
    """A finished debootstrap root, before anything host-specific is written into it."""
    base = settings.cache_dir / f"rootfs-{SUITE}-{architecture()}-{_cache_key(mirror)}.tar"
    if base.exists():
        return base
    packages = package_tarball(settings, mirror, log)
    work = settings.cache_dir / f"root-{os.getpid()}"
    partial = base.with_name(f"{base.name}.{os.getpid()}.partial")
    log(f"installing Debian {SUITE} from {packages.name} (once; cached in {base})")
    try:
        run(
            [
                "debootstrap",
                f"--arch={architecture()}",
                f"--include={','.join(EXTRA_PACKAGES)}",
                f"--unpack-tarball={packages}",
                SUITE,
                str(work),
                mirror.archive,
            ]
        )
        # Host identity is made per host; a shared one would make every sandbox the same machine.
        for key in (work / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        (work / "etc/machine-id").write_text("")
        shutil.rmtree(work / "var/cache/apt/archives", ignore_errors=True)
        (work / "var/cache/apt/archives/partial").mkdir(parents=True)
        run(["tar", "--numeric-owner", "--xattrs", "-C", str(work), "-cf", str(partial), "."])
        partial.rename(base)
    finally:
        run(["rm", "-rf", "--one-file-system", str(work)], check=False)
        partial.unlink(missing_ok=True)
    return base


def unpack_root(settings: SandboxSettings, mirror: Mirror, log: Log) -> None:
    """Make settings.root a fresh copy of the cached base root."""
    base = base_root_tarball(settings, mirror, log)
    settings.root.mkdir(parents=True)
    run(["tar", "--numeric-owner", "--xattrs", "-C", str(settings.root), "-xf", str(base)])


def personalise(settings: SandboxSettings, mirror: Mirror, public_key: str) -> None:
    """What a cloud image's first boot does: name, machine id, apt sources, and who may log in."""
    root = settings.root
    (root / "etc/hostname").write_text(settings.hostname + "\n")
    (root / "etc/hosts").write_text(
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{settings.hostname}\n{settings.address}\t{settings.hostname}\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
    )
    (root / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
    (root / "etc/apt/sources.list").write_text("")
    (root / "etc/apt/sources.list.d/debian.sources").write_text(mirror.sources())
    # The sandbox has no route out; apt's only way to the mirror is the host's tinyproxy.
    (root / "etc/apt/apt.conf.d/01raindrop-sandbox-proxy").write_text(f'Acquire::http::Proxy "{settings.proxy_url}";\n')
    (root / "etc/ssh/sshd_config.d/raindrop-sandbox.conf").write_text(
        "PasswordAuthentication no\nPermitRootLogin prohibit-password\nUseDNS no\n"
    )
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    authorized = ssh_dir / "authorized_keys"
    authorized.write_text(public_key.strip() + "\n")
    authorized.chmod(0o600)
    (root / "run").mkdir(exist_ok=True)
