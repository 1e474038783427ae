"""The host's config files, rendered by app/render.py and sorted by who may carry them.

A file "holds a secret" when its rendering changes with the secrets: it is rendered twice, with two sets
of decoy secrets, and compared. That catches every filter (a URL-quoted password, supervisor's
SHA-1 of the admin password) without a list to keep up to date. Those files go to the secrets step;
the others to provision (system services) or to each release (deploy). The public files need no secret
to render, so the Pulumi program gets them as plain text; only secret_files() needs the values.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from app import render
from app.render import TLS_ON_HOST
from app.steps.host import ALL_SECRET_NAMES, LOCAL_ADDRESSES, PEM_SECRET_NAMES, HostConfig, HostFile, layout_settings
from app.steps.secrets import HTPASSWD_PLACEHOLDER, check_secrets, placeholder_forms, with_placeholders

# Template variable for each secret (config/defaults.yml).
SECRET_VARIABLES = {name: f"raindrop_{name}" for name in ALL_SECRET_NAMES}
# The service to restart when one of its files changes. Public ones among them are provision's to place.
# supervisord reads its [inet_http_server] only when it starts (reread/update cover programs only), so
# a changed supervisor file restarts it: rare (a config or secret change), never on a code-only deploy.
SYSTEM_SERVICES = {
    "/etc/mysql/": "mariadb",
    "/etc/redis/": "redis-server",
    "/etc/supervisor/": "supervisor",
    # A limit applies when a process starts: a changed drop-in restarts supervisord (after daemon-reload).
    "/etc/systemd/system/supervisor.service.d/": "supervisor",
}
# Files provision places although they restart no service: they belong to the host, not to a release (a
# rollback must not take the backup settings or the timer back with it).
HOST_LEVEL_TEMPLATES = ("backup.conf", "raindrop-backup.service", "raindrop-backup.timer", "tls.conf",
                        "certbot-service.conf")
# The daily backup's units: only where the database is local (scale-out's RDS keeps backups of its own).
BACKUP_UNIT_TEMPLATES = ("raindrop-backup.service", "raindrop-backup.timer")
# nginx's workers check the admin's basic auth, so the htpasswd is readable by their group only.
HTPASSWD_OWNER = "root:www-data"
# Templates a host gets only in some raindrop_tls modes (the others serve no https or ask no ACME CA).
TLS_TEMPLATES = {
    "nginx-tls.conf": TLS_ON_HOST,
    "tls.conf": TLS_ON_HOST,
    "certbot-service.conf": ("acme",),
    "tls-certificate.pem": ("provided",),
    "tls-private-key.pem": ("provided",),
}



@dataclass(frozen=True)
class PublicFiles:
    system: tuple[HostFile, ...]  # no secret; provision places them
    app: tuple[HostFile, ...]  # no secret; every release carries them


def _decoys(tag: str) -> dict[str, str]:
    return {variable: f"decoy-{tag}-{name}-0123456789abcdef" for name, variable in SECRET_VARIABLES.items()}


def _service_for(path: str) -> str | None:
    return next((service for prefix, service in SYSTEM_SERVICES.items() if path.startswith(prefix)), None)


def _host_file(spec: render.TemplateFile, content: str) -> HostFile:
    return HostFile(
        path=spec.path,
        content=content,
        mode=f"{spec.mode:03o}",
        owner=f"{spec.owner}:{spec.group}",
        restart=_service_for(spec.path),
    )


def local_services(values: Mapping[str, Any]) -> tuple[bool, bool]:
    """Whether the database and Redis run on the host itself (else managed services, as in scale-out)."""
    variables = {**render.load_defaults(), **values}
    return variables["raindrop_db_host"] in LOCAL_ADDRESSES, variables["raindrop_redis_host"] in LOCAL_ADDRESSES


def _placed(spec: render.TemplateFile, values: Mapping[str, Any]) -> bool:
    """Whether this host gets the file: not the config of a service it does not run, nor the backup timer
    where there is no local database to back up."""
    if _service_for(spec.path) in _absent_services(values):
        return False
    if spec.template in TLS_TEMPLATES and _tls_mode(values) not in TLS_TEMPLATES[spec.template]:
        return False
    return spec.template not in BACKUP_UNIT_TEMPLATES or local_services(values)[0]


def _tls_mode(values: Mapping[str, Any]) -> str:
    return str({**render.load_defaults(), **values}["raindrop_tls"])


def _absent_services(values: Mapping[str, Any]) -> set[str]:
    """The local services this host does not run: their config files are not placed."""
    local_db, local_redis = local_services(values)
    return {name for name, local in (("mariadb", local_db), ("redis-server", local_redis)) if not local}


def _check_values(values: Mapping[str, Any]) -> None:
    given_secrets = sorted(set(values) & set(SECRET_VARIABLES.values()))
    if given_secrets:
        raise ValueError(f"pass secrets apart from the template values, not as {given_secrets[0]!r}")


def _secret_specs(values: Mapping[str, Any]) -> set[render.TemplateFile]:
    """The files whose text depends on the secrets: rendered with two sets of decoys, they differ."""
    first, second = render.render_all({**values, **_decoys("a")}), render.render_all({**values, **_decoys("b")})
    return {spec for spec in first if first[spec] != second[spec]}


def public_files(values: Mapping[str, Any]) -> PublicFiles:
    """The files that hold no secret, rendered from `values` (template variables without secrets)."""
    _check_values(values)
    secret = _secret_specs(values)
    rendered = render.render_all({**values, **_decoys("a")})
    placed = [(spec, _host_file(spec, content)) for spec, content in rendered.items()
              if spec not in secret and _placed(spec, values)]
    system = [f for spec, f in placed if f.restart or spec.template in HOST_LEVEL_TEMPLATES]
    return PublicFiles(system=tuple(system), app=tuple(f for _spec, f in placed if f not in system))


def _check_fillable(values: Mapping[str, Any], secrets: Mapping[str, str], generated: Collection[str]) -> None:
    """Refuse a template that uses a host-generated secret in a form the host cannot fill in.

    Rendered with two different sets of placeholders, the files must differ only by those placeholders'
    known forms (plain, SHA-1): then replacing the forms is exactly what rendering with the real value gives.
    """
    def variables(variant: str) -> dict[str, Any]:
        chosen = {**secrets, **{name: placeholder_forms(name, variant)["plain"] for name in generated}}
        return {**values, **{SECRET_VARIABLES[name]: value for name, value in chosen.items()}}

    first, second = render.render_all(variables("")), render.render_all(variables("check-"))
    for spec, text in first.items():
        for name in generated:
            for form, found in placeholder_forms(name).items():
                text = text.replace(found, placeholder_forms(name, "check-")[form])
        if text != second[spec]:
            raise ValueError(f"{spec.path}: uses a host-generated secret in a form other than plain or SHA-1")


def secret_files(values: Mapping[str, Any], secrets: Mapping[str, str],
                 generated: Collection[str] = ()) -> tuple[HostFile, ...]:
    """The files rendered from the secrets (for write_secrets only), plus the admin's htpasswd.

    `generated` names secrets the host makes itself: the files hold placeholders for them, and the htpasswd
    a placeholder for its hash, which write_secrets(..., generated=...) fills in on the host.
    """
    _check_values(values)
    secrets = with_placeholders(secrets, generated)
    check_secrets(secrets)
    if _tls_mode(values) == "provided":
        absent = [name for name in PEM_SECRET_NAMES if not secrets.get(name)]
        if absent:
            raise ValueError(f"raindrop_tls 'provided' needs the secrets tls_certificate and tls_private_key; "
                             f"{' and '.join(absent)} missing")
    if generated:
        _check_fillable(values, {k: v for k, v in secrets.items() if k not in generated}, generated)
    variables = {**values, **{SECRET_VARIABLES[name]: value for name, value in secrets.items()}}
    rendered = render.render_all(variables)
    files = [
        _host_file(spec, rendered[spec])
        for spec in sorted(_secret_specs(values), key=lambda s: s.path)
        if _placed(spec, values)
    ]
    merged = render.config_variables(variables)
    if {"admin_password", "secret_key"} & set(generated):
        htpasswd = f"{merged['raindrop_admin_user']}:{HTPASSWD_PLACEHOLDER}\n"
    else:
        htpasswd = render.htpasswd_line(merged["raindrop_admin_user"], secrets["admin_password"], secrets["secret_key"])
    files.append(
        HostFile(
            path=merged["raindrop_admin_htpasswd_file"],
            content=htpasswd,
            mode="640",
            owner=HTPASSWD_OWNER,
        )
    )
    return tuple(files)


def host_config(values: Mapping[str, Any], **settings: Any) -> HostConfig:
    """A HostConfig that agrees with the template values (user, paths, db, port) and carries their files."""
    files = public_files(values)
    variables = {**render.load_defaults(), **values}
    local_db, local_redis = local_services(values)
    dropped = {"mariadb-server", "mariadb"} if not local_db else set()
    dropped |= {"redis-server"} if not local_redis else set()
    defaults = HostConfig.from_defaults()
    # ACME through Debian's certbot (app/steps/sh/tls.sh says why certbot rather than lego).
    added = ("certbot",) if variables["raindrop_tls"] == "acme" else ()
    return HostConfig(**{
        **layout_settings(variables),
        "local_db": local_db,
        "local_redis": local_redis,
        "packages": tuple(p for p in settings.pop("packages", defaults.packages) if p not in dropped) + added,
        "services": tuple(s for s in settings.pop("services", defaults.services) if s not in dropped),
        "system_files": files.system,
        "app_files": files.app,
        **settings,
    })
