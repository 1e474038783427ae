"""provision: the seed's `fab init_env`, idempotent. Packages, app user and layout, MariaDB and Redis secured.

Runs after the secrets step (it reads the passwords on the host) and before the first deploy. Running it
again changes nothing: apt is skipped when every package is installed, files are only rewritten when
they differ, SQL uses IF [NOT] EXISTS and re-sets the password so a rotated one takes effect.
"""

from __future__ import annotations

from app.steps.backup import DB_CREATE_OPTIONS, backup_files, enable_timer
from app.steps.host import HostConfig, HostFile
from app.steps.script import Script
from app.steps.shell import lines, prelude, q, write_files
from app.steps.tls import provision_tls, tls_files

APT_PROXY_FILE = "/etc/apt/apt.conf.d/80raindrop-proxy"
APT_SOURCES_FILE = "/etc/apt/sources.list"


def apt_files(config: HostConfig) -> list[HostFile]:
    """apt settings for a mirror and/or proxy (empty when neither is configured)."""
    files = []
    if config.apt_proxy:
        files.append(HostFile(APT_PROXY_FILE, f'Acquire::http::Proxy "{config.apt_proxy}";\n'))
    if config.apt_mirror:
        mirror = config.apt_mirror.rstrip("/")
        security = (config.apt_security_mirror or f"{mirror}-security").rstrip("/")
        files.append(
            HostFile(
                APT_SOURCES_FILE,
                f"deb {mirror} bookworm main\n"
                f"deb {mirror} bookworm-updates main\n"
                f"deb {security} bookworm-security main\n",
            )
        )
    return files


# Debian's units for nginx and redis-server do not restart a crashed daemon (mariadb's and supervisor's
# do): with systemd, a drop-in makes every service of the stack come back by itself.
RESTART_DROPIN = "[Service]\nRestart=always\nRestartSec=1\n"


def restart_dropins(config: HostConfig) -> list[HostFile]:
    """systemd drop-ins that restart each service after a crash (inert on a host without systemd)."""
    return [
        HostFile(f"/etc/systemd/system/{service}.service.d/raindrop-restart.conf", RESTART_DROPIN)
        for service in config.services
    ]


def place_files(files: list[HostFile] | tuple[HostFile, ...]) -> str:
    """Bash that installs `files` now, through a scratch directory and apply_files."""
    if not files:
        return ""
    return lines(
        "scratch=$(mktemp -d)",
        write_files('"$scratch"', files),
        'apply_files "$scratch"',
        'rm -rf "$scratch"',
    )


def _apt(config: HostConfig) -> str:
    packages = " ".join(q(p) for p in config.packages)
    apt = apt_files(config)
    return lines(
        'log "apt"',
        place_files(apt),
        "" if config.apt_proxy else f"rm -f {APT_PROXY_FILE}",
        # A mirror replaces the stock sources; keep Debian's deb822 file aside so apt reads one list.
        "if [ -f /etc/apt/sources.list.d/debian.sources ]; then "
        "mv /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/debian.sources.disabled; fi"
        if config.apt_mirror
        else "",
        "missing=()",
        f"for package in {packages}; do",
        '  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")',
        "done",
        'if [ ${#missing[@]} -gt 0 ] || [ ${#CHANGED[@]} -gt 0 ]; then',
        "  apt-get update -q",
        '  apt-get install -y -q --no-install-recommends "${missing[@]}"',
        "fi",
    )


def _layout(config: HostConfig) -> str:
    user = q(config.app_user)
    return lines(
        'log "app user and directories"',
        f"getent passwd {user} >/dev/null || useradd --system --user-group --home-dir {q(config.base_dir)} "
        f"--no-create-home --shell /usr/sbin/nologin {user}",
        # Code is root's and read-only to the app; only uploads and logs are the app user's.
        'install -d -m 755 -o root -g root "$BASE" "$RELEASES" "$SHARED" "$SHARED/venvs"',
        f'install -d -m 755 -o {user} -g {user} "$SHARED/uploads" {q(config.log_dir)}',
        # 711: the app user and nginx reach their own files in it (each keeps its own mode); nobody lists it.
        f"install -d -m 711 -o root -g root {q(config.etc_dir)}",
        # Debian's stock site also claims default_server on :80.
        "rm -f /etc/nginx/sites-enabled/default",
    )


def _services(config: HostConfig) -> str:
    services = " ".join(q(s) for s in config.services)
    return lines(
        'log "services enabled at boot and started"',
        f"for service in {services}; do",
        '  svc_enable "$service"',
        '  svc_start "$service"',
        "done",
    )


def _mariadb(config: HostConfig) -> str:
    db, user = config.db_name, config.db_user
    accounts = f"'{user}'@'localhost', '{user}'@'127.0.0.1'"
    # Unquoted here-document: $DB_PASSWORD is read from the secrets file on the host, so this text stays
    # secret-free. Secret values are limited to [A-Za-z0-9._-], safe inside a SQL string.
    sql = lines(
        "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket;",
        "DELETE FROM mysql.global_priv WHERE User='';",
        "DELETE FROM mysql.global_priv WHERE User='root' AND Host <> 'localhost';",
        "DROP DATABASE IF EXISTS test;",
        "DELETE FROM mysql.db WHERE Db='test' OR Db='test\\\\_%';",
        f"CREATE DATABASE IF NOT EXISTS {db} {DB_CREATE_OPTIONS};",
        f"CREATE USER IF NOT EXISTS '{user}'@'localhost' IDENTIFIED BY '$DB_PASSWORD';",
        f"CREATE USER IF NOT EXISTS '{user}'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';",
        f"ALTER USER '{user}'@'localhost' IDENTIFIED BY '$DB_PASSWORD', "
        f"'{user}'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';",
        "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, REFERENCES, "
        f"CREATE TEMPORARY TABLES, LOCK TABLES ON {db}.* TO {accounts};",
        "FLUSH PRIVILEGES;",
    )
    return lines(
        'log "mariadb: root by unix_socket only, no anonymous users or test db, app db and user"',
        "for _ in $(seq 30); do mariadb-admin ping --silent 2>/dev/null && break; sleep 1; done",
        'mariadb-admin ping --silent || die "mariadb does not answer"',
        "mariadb --protocol=socket --user=root <<SQL\n" + sql + "SQL",
    )


def _redis_check() -> str:
    # Output captured, not piped into grep -q: under pipefail an early-closed pipe would fail the check.
    return lines(
        'log "redis: password required"',
        "redis_reply() { redis-cli -h 127.0.0.1 ping 2>&1 || true; }",
        'for _ in $(seq 30); do [[ "$(redis_reply)" == *NOAUTH* || "$(redis_reply)" == *PONG* ]] && break; '
        "sleep 1; done",
        '[[ "$(redis_reply)" == *NOAUTH* ]] || die "redis answers without a password"',
        '[[ "$(REDISCLI_AUTH="$REDIS_PASSWORD" redis_reply)" == PONG ]] '
        '|| die "redis refuses the password from $SECRETS_FILE"',
    )


def provision(config: HostConfig) -> Script:
    """The idempotent host setup. Needs the secrets step to have run first."""
    body = lines(
        prelude(config),
        '[ -f "$SECRETS_FILE" ] || die "$SECRETS_FILE is missing: run the secrets step before provision"',
        '. "$SECRETS_FILE"',
        _apt(config),
        _layout(config),
        'log "config files: staged by the secrets step, then the system ones"',
        f"apply_files {q(config.staged_dir)}",
        place_files(config.system_files),
        place_files(restart_dropins(config)),
        'log "backup and restore commands"',
        place_files(backup_files(config)),
        provision_tls(config, place_files(tls_files(config))),
        _services(config),
        enable_timer(config),
        _mariadb(config) if config.local_db else 'log "database: a managed service (raindrop_db_host), none here"',
        _redis_check() if config.local_redis else 'log "redis: a managed service (raindrop_redis_host), none here"',
        'log "provisioned"',
    )
    return Script(name="provision", body=body)
