"""The plain data the host steps are built from: host settings, files to place, and the release bundle."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from app import render
from app.render import TLS_MODES
from contracts import HEALTH_PATH

# The secrets a stack gives. The secrets step writes them (and every file rendered from them) on the host;
# no other script holds them.
SECRET_NAMES = ("db_password", "redis_password", "admin_password", "secret_key")
# Secrets only some stacks have: the RAM key that writes uploads to OSS (scale-out), and for raindrop_tls
# `provided` the certificate (full chain) and its private key.
OPTIONAL_SECRET_NAMES = ("oss_access_key_secret", "tls_certificate", "tls_private_key")
# Secrets that are PEM files, not lines of secrets.env: the secrets step writes them only as their own files.
PEM_SECRET_NAMES = ("tls_certificate", "tls_private_key")
ALL_SECRET_NAMES = SECRET_NAMES + OPTIONAL_SECRET_NAMES
# Addresses that mean "the service runs on this host": anything else is a managed service (RDS, KVStore).
LOCAL_ADDRESSES = ("127.0.0.1", "localhost")

_MODE = re.compile(r"^[0-7]{3}$")
_OWNER = re.compile(r"^[a-z_][a-z0-9_-]*:[a-z_][a-z0-9_-]*$")


@dataclass(frozen=True)
class HostFile:
    """A file to place on the host, installed atomically and only when it differs."""

    path: str
    content: str
    mode: str = "644"
    owner: str = "root:root"
    # A service to restart when this file changes, e.g. "redis-server" for /etc/redis/redis.conf.
    restart: str | None = None

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or "\t" in self.path or "\n" in self.path:
            raise ValueError(f"host file path must be absolute, one line, no tabs: {self.path!r}")
        if not _MODE.match(self.mode):
            raise ValueError(f"{self.path}: mode {self.mode!r} is not an octal mode like '640'")
        if not _OWNER.match(self.owner):
            raise ValueError(f"{self.path}: owner {self.owner!r} is not 'user:group'")
        if self.restart is not None and not re.fullmatch(r"[a-z][a-z0-9.-]*", self.restart):
            raise ValueError(f"{self.path}: restart {self.restart!r} is not a service name")

    @property
    def private(self) -> bool:
        """No access for others: the only modes a file that holds a secret may have."""
        return not int(self.mode, 8) & 0o007


def layout_settings(variables: Mapping[str, Any]) -> dict[str, Any]:
    """The HostConfig fields that config/defaults.yml's variables decide, from a full set of them.

    The one mapping from template variables to host settings: HostConfig.from_defaults() applies it to the
    defaults, app.steps.files.host_config() to a stack's values merged over them.
    """
    current = str(variables["raindrop_current_dir"])
    if not current.endswith("/current"):
        raise ValueError(f"raindrop_current_dir {current!r} must be <base>/current, the symlink deploy switches")
    listen = variables["raindrop_listen_address"] or "127.0.0.1"
    env_file = str(variables["raindrop_env_file"])
    return {
        "app_user": variables["raindrop_app_user"],
        "base_dir": current.removesuffix("/current"),
        # the env file sits in the directory of the host's own settings (secrets.env, staged/, backup.conf)
        "etc_dir": str(PurePosixPath(env_file).parent),
        "log_dir": variables["raindrop_log_dir"],
        "env_file": env_file,
        "gunicorn_config_file": str(variables["raindrop_gunicorn_config_file"]),
        "db_name": variables["raindrop_db_name"],
        "db_user": variables["raindrop_db_user"],
        "health_url": f"http://{listen}:{variables['raindrop_http_port']}{HEALTH_PATH}",
        "supervisord_pidfile": variables["raindrop_supervisord_pidfile"],
        "bin_dir": variables["raindrop_bin_dir"],
        "backup_conf": next(spec.path for spec in render.HOST_FILES if spec.template == "backup.conf"),
        "tls_mode": variables["raindrop_tls"],
        "tls_conf": next(spec.path for spec in render.HOST_FILES if spec.template == "tls.conf"),
    }


@dataclass(frozen=True)
class HostConfig:
    """Where and how Raindrop lives on a host.

    The layout fields (keyword-only, no default here) come from config/defaults.yml through layout_settings():
    build one with HostConfig.from_defaults(**overrides) or app.steps.files.host_config(values), never with
    paths restated in Python.
    """

    app_user: str = field(kw_only=True)
    base_dir: str = field(kw_only=True)
    etc_dir: str = field(kw_only=True)
    log_dir: str = field(kw_only=True)
    env_file: str = field(kw_only=True)
    # config/gunicorn.conf.py.j2 rendered: a change to it restarts gunicorn instead of HUPing it (common.sh)
    gunicorn_config_file: str = field(kw_only=True)
    # where deploy installs raindrop-rollback and provision raindrop-backup / raindrop-restore
    bin_dir: str = field(kw_only=True)
    lib_dir: str = "/usr/local/lib/raindrop"  # the backup's OSS uploader (app/backup_oss.py)
    backup_conf: str = field(kw_only=True)  # config/backup.conf.j2: what both backup commands read
    keep_releases: int = 5
    # apt: a mirror base URL (e.g. http://mirrors.cloud.aliyuncs.com/debian) and/or an HTTP proxy URL.
    apt_mirror: str | None = None
    apt_security_mirror: str | None = None  # defaults to apt_mirror + "-security"
    apt_proxy: str | None = None
    packages: tuple[str, ...] = (
        "nginx",
        "supervisor",
        "redis-server",
        "mariadb-server",
        "python3",
        "python3-venv",
        "curl",
        "openssl",
        "ca-certificates",
        "logrotate",
        "procps",  # pgrep: gunicorn's workers, for the HUP
        "iproute2",  # ss: which of them still listen
    )
    services: tuple[str, ...] = ("mariadb", "redis-server", "supervisor", "nginx")
    db_name: str = field(kw_only=True)
    db_user: str = field(kw_only=True)
    # supervisor groups as config/supervisor.conf.j2 defines them (`name:*` is every process of it).
    web_programs: tuple[str, ...] = ("raindrop-web:*",)
    worker_programs: tuple[str, ...] = ("raindrop-celery:*",)
    health_url: str = field(kw_only=True)
    supervisord_pidfile: str = field(kw_only=True)
    health_attempts: int = 30
    health_interval_seconds: int = 1
    lock_wait_seconds: int = 600
    # Rendered config files without secrets: system ones placed by provision, app ones carried by each
    # release (so a rollback brings its files back). Files with secrets go through write_secrets.
    system_files: tuple[HostFile, ...] = field(default=())
    app_files: tuple[HostFile, ...] = field(default=())
    # The client's index.html with its asset URLs pointed at OSS/CDN (app.publish.rewrite_index); it replaces
    # the bundle's own in each release. None: nginx serves the bundle's index.html and assets as they are.
    client_index: str | None = None
    # False when the database / Redis is a managed service elsewhere (scale-out): provision then installs,
    # secures and checks no local MariaDB / redis-server.
    local_db: bool = True
    local_redis: bool = True
    # raindrop_tls (config/defaults.yml): with acme or provided, provision and deploy run raindrop-tls, whose
    # settings file is tls_conf (config/tls.conf.j2).
    tls_mode: str = field(kw_only=True)
    tls_conf: str = field(kw_only=True)

    def __post_init__(self) -> None:
        if self.keep_releases < 2:
            raise ValueError(f"keep_releases must be at least 2 so a rollback target remains, not {self.keep_releases}")
        for name in ("app_user", "db_name", "db_user"):
            if not re.fullmatch(r"[a-z_][a-z0-9_]{0,31}", getattr(self, name)):
                raise ValueError(f"{name} {getattr(self, name)!r} must be a short lowercase identifier")
        if self.tls_mode not in TLS_MODES:
            raise ValueError(f"tls_mode {self.tls_mode!r} is not one of {', '.join(TLS_MODES)}")
        for name in ("base_dir", "etc_dir", "log_dir", "env_file", "gunicorn_config_file", "bin_dir", "lib_dir",
                     "backup_conf", "supervisord_pidfile", "tls_conf"):
            if not re.fullmatch(r"/[A-Za-z0-9_./-]+", getattr(self, name)):
                raise ValueError(f"{name} {getattr(self, name)!r} must be an absolute path of plain characters")
        for name in ("apt_mirror", "apt_security_mirror", "apt_proxy"):
            value = getattr(self, name)
            if value is not None and not re.fullmatch(r"https?://[^\s\"'\\]+", value):
                raise ValueError(f"{name} {value!r} must be an http(s) URL")
        if self.health_attempts < 1 or self.health_interval_seconds < 1:
            raise ValueError("health_attempts and health_interval_seconds must be at least 1")

    @classmethod
    def from_defaults(cls, **overrides: Any) -> HostConfig:
        """The host layout of config/defaults.yml, with `overrides` (e.g. a scratch tree's paths in tests)."""
        return cls(**{**layout_settings(render.load_defaults()), **overrides})

    @property
    def secrets_file(self) -> str:
        return f"{self.etc_dir}/secrets.env"

    @property
    def generated_secrets_file(self) -> str:
        """The values a host made for itself (secrets the stack does not give); kept across deploys."""
        return f"{self.etc_dir}/generated.env"

    @property
    def rollback_command(self) -> str:
        return f"{self.bin_dir}/raindrop-rollback"

    @property
    def backup_command(self) -> str:
        return f"{self.bin_dir}/raindrop-backup"

    @property
    def restore_command(self) -> str:
        return f"{self.bin_dir}/raindrop-restore"

    @property
    def tls_command(self) -> str:
        return f"{self.bin_dir}/raindrop-tls"

    @property
    def backup_uploader(self) -> str:
        return f"{self.lib_dir}/backup_oss.py"

    @property
    def staged_dir(self) -> str:
        """Where the secrets step stages the files that hold secrets, for provision and deploy to install."""
        return f"{self.etc_dir}/staged"


_HASH = re.compile(r"^[0-9a-f]{12,64}$")


@dataclass(frozen=True)
class Bundle:
    """A release bundle as the host steps need it: its hashes, and where the upload puts it."""

    hash: str  # content hash, names the release
    deps_hash: str  # hash of the dependency wheels, names the shared venv
    sha256: str  # of the .tar.gz bytes, checked on the host before unpacking
    remote_dir: str = "/var/tmp"  # exists on any Debian host, before provision too

    def __post_init__(self) -> None:
        for name in ("hash", "deps_hash", "sha256"):
            if not _HASH.match(getattr(self, name)):
                raise ValueError(f"bundle {name} {getattr(self, name)!r} is not a lowercase hex digest")
        if not re.fullmatch(r"/[A-Za-z0-9_./-]*", self.remote_dir):
            raise ValueError(f"bundle remote_dir {self.remote_dir!r} must be an absolute path of plain characters")

    @property
    def remote_path(self) -> str:
        """Where remote.CopyToRemote must put the bundle."""
        return f"{self.remote_dir}/raindrop-{self.hash}.tar.gz"
