"""Renders the host's config files from the jinja2 templates in config/. Pure: nothing here touches a host.

`config_variables()` merges the given values over config/defaults.yml and refuses unknown or missing
ones (ConfigError, from contracts); `render()` fills one template; `render_all()` does both for every file
the host needs, each with the path and mode it is installed with. `htpasswd_line()` makes the admin site's
basic-auth entry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import shlex
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import bcrypt
import jinja2
import yaml

from contracts import BCRYPT_MAX_BYTES, HOST_TLS_MODES, HOSTNAME, ConfigError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULTS_FILE = CONFIG_DIR / "defaults.yml"

# bcrypt's cost for the admin htpasswd. nginx checks the hash on every request of the admin site, in its
# worker, so the cost stays moderate: ~50 ms a check on a small box.
HTPASSWD_BCRYPT_ROUNDS = 10
_STD_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BCRYPT_B64 = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class TemplateFile:
    """One template and where the deploy installs its rendering (app.steps.host.HostFile is the file itself)."""

    template: str
    path: str
    mode: int
    owner: str = "root"
    group: str = "root"


# What the deploy writes. Files holding a secret (or a hash of one) are not world-readable.
HOST_FILES: tuple[TemplateFile, ...] = (
    TemplateFile("nginx.conf", "/etc/nginx/nginx.conf", 0o644),
    TemplateFile("nginx-site.conf", "/etc/nginx/sites-available/raindrop.conf", 0o644),
    TemplateFile("nginx-admin.conf", "/etc/nginx/sites-available/raindrop-admin.conf", 0o644),
    # The security headers: their values as maps (http level, read through nginx.conf's conf.d include) and the
    # add_header lines the site includes at server level and in every location with an add_header of its own.
    TemplateFile("nginx-security-headers-http.conf", "/etc/nginx/conf.d/raindrop-security-headers.conf", 0o644),
    TemplateFile("nginx-security-headers.conf", "/etc/nginx/snippets/raindrop-security-headers.conf", 0o644),
    TemplateFile("supervisor.conf", "/etc/supervisor/conf.d/raindrop.conf", 0o600),
    TemplateFile("supervisor-service.conf", "/etc/systemd/system/supervisor.service.d/raindrop-service.conf", 0o644),
    TemplateFile("gunicorn.conf.py", "/etc/raindrop/gunicorn.conf.py", 0o644),
    TemplateFile("my.cnf", "/etc/mysql/mariadb.conf.d/60-raindrop.cnf", 0o644),
    TemplateFile("redis.conf", "/etc/redis/redis.conf", 0o640, "redis", "redis"),
    TemplateFile("logrotate", "/etc/logrotate.d/raindrop", 0o644),
    TemplateFile("raindrop.env", "/etc/raindrop/raindrop.env", 0o600, "raindrop", "raindrop"),
    TemplateFile("backup.conf", "/etc/raindrop/backup.conf", 0o644),
    TemplateFile("raindrop-backup.service", "/etc/systemd/system/raindrop-backup.service", 0o644),
    TemplateFile("raindrop-backup.timer", "/etc/systemd/system/raindrop-backup.timer", 0o644),
    TemplateFile("nginx-tls.conf", "/etc/nginx/snippets/raindrop-tls.conf", 0o644),
    TemplateFile("tls.conf", "/etc/raindrop/tls.conf", 0o644),
    TemplateFile("certbot-service.conf", "/etc/systemd/system/certbot.service.d/raindrop.conf", 0o644),
    # `provided`: the certificate and its key, from secrets. nginx's master process (root) reads both.
    TemplateFile("tls-certificate.pem", "/etc/raindrop/tls/provided/fullchain.pem", 0o640),
    TemplateFile("tls-private-key.pem", "/etc/raindrop/tls/provided/privkey.pem", 0o600),
)


def _shell_quote(value: object) -> str:
    """A value as one word for sh, whatever it holds ($, quotes, spaces)."""
    return shlex.quote(str(value))


def _url_quote(value: object) -> str:
    """A value safe inside one URL component (user or password of a database URL)."""
    return urllib.parse.quote(str(value), safe="")


def _redis_quote(value: object) -> str:
    """A value as one double-quoted redis.conf argument (redis parses \\\\ and \\" escapes there)."""
    text = str(value)
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise ConfigError("a redis.conf value holds a control character")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _supervisor_password(value: object) -> str:
    """supervisor's hashed password form, so the plain secret is not in its conf."""
    # SHA-1 is the only hash supervisor's inet_http_server understands; the file is mode 600 anyway.
    return "{SHA}" + hashlib.sha1(str(value).encode(), usedforsecurity=False).hexdigest()


def _nginx_string(value: object) -> str:
    """A value as one single-quoted nginx string."""
    text = str(value)
    if "\n" in text or "\r" in text:
        raise ConfigError("an nginx value holds a line break")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def url_origin(url: str) -> str:
    """scheme://host[:port] of a URL, "" for "": a CSP source that allows the whole origin, whatever the path."""
    if not url:
        return ""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"{url!r} is not an http(s) URL")
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def security_headers(variables: Mapping[str, Any]) -> dict[str, str]:
    """The headers nginx gives its own responses (config/defaults.yml, raindrop_csp and below), in order.

    One source for the nginx templates and for the client's e2e server (`python -m app.render security-headers`).
    """
    uploads_on_oss = bool(variables["raindrop_oss_bucket"])
    tokens = {
        "{asset_origin}": url_origin(variables["raindrop_csp_asset_origin"]),
        "{upload_origin}": url_origin(variables["raindrop_oss_public_base"]) if uploads_on_oss else "",
    }
    directives = []
    for name, sources in variables["raindrop_csp"].items():
        # An origin is listed once even when the assets and the uploads share it (the same bucket).
        values = dict.fromkeys(v for v in (tokens.get(s, s) for s in sources) if v)
        directives.append(" ".join([name, *values]))
    return {
        "Content-Security-Policy": "; ".join(directives),
        "X-Content-Type-Options": "nosniff",
        # For browsers without CSP's frame-ancestors; the two say the same.
        "X-Frame-Options": "DENY",
        "Referrer-Policy": variables["raindrop_referrer_policy"],
    }


def _header_variable(name: str) -> str:
    """The nginx variable holding one header's value, e.g. $raindrop_header_x_frame_options."""
    return "$raindrop_header_" + name.lower().replace("-", "_")


def _security_header_lines(csp: Any, asset_origin: str, oss_bucket: str, oss_public_base: str,
                           referrer_policy: str) -> list[tuple[str, str, str]]:
    """(header, nginx variable, value) for the nginx templates. The variables are passed by name, so that the
    templates show (and jinja2.meta finds) every variable the headers depend on."""
    headers = security_headers({
        "raindrop_csp": csp, "raindrop_csp_asset_origin": asset_origin, "raindrop_oss_bucket": oss_bucket,
        "raindrop_oss_public_base": oss_public_base, "raindrop_referrer_policy": referrer_policy,
    })
    return [(name, _header_variable(name), value) for name, value in headers.items()]


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(CONFIG_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 - these are config files, not HTML
    )
    env.filters.update(
        shquote=_shell_quote,
        urlquote=_url_quote,
        redis_quote=_redis_quote,
        supervisor_password=_supervisor_password,
        nginx_string=_nginx_string,
        pyrepr=repr,  # a Python literal for gunicorn.conf.py
    )
    env.globals["security_header_lines"] = _security_header_lines
    return env


def template_names() -> list[str]:
    """The config files there are templates for, without the .j2 suffix."""
    return sorted(p.name.removesuffix(".j2") for p in CONFIG_DIR.glob("*.j2"))


def load_defaults(path: Path = DEFAULTS_FILE) -> dict[str, Any]:
    """config/defaults.yml as a dict; a `~` value means the variable must be given."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must be a mapping of variable names to defaults")
    return data


def config_variables(given: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The given values over the defaults. Refuses a name not in defaults.yml and a required one left out."""
    defaults = load_defaults() if defaults is None else defaults
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ConfigError(f"unknown template variable {unknown[0]!r} (every variable is listed in config/defaults.yml)")
    merged = {**defaults, **given}
    missing = sorted(name for name, value in merged.items() if value is None)
    if missing:
        raise ConfigError(f"template variable {missing[0]!r} has no default and must be given")
    for name in sorted(merged):
        _check_value(name, merged[name], defaults[name])
    _check_tls(merged)
    return merged


_AT_LEAST_ONE = ("raindrop_gunicorn_processes", "raindrop_backup_keep", "raindrop_backup_lock_wait")
TLS_MODES = HOST_TLS_MODES
# The modes in which nginx on the host itself serves https (and the admin port is TLS only).
TLS_ON_HOST = ("acme", "provided")
# PEM texts: the only variables that span lines (they go into files of their own, never a line-based config).
_MULTILINE = ("raindrop_tls_certificate", "raindrop_tls_private_key")
_EMAIL = re.compile(r"[^@\s\"'\\]+@[^@\s\"'\\]+\.[^@\s\"'\\]+")
_HTTPS_URL = re.compile(r"https://[^\s\"'\\]+")
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9_./-]+")
_TLS_PATHS = ("raindrop_tls_dir", "raindrop_acme_webroot", "raindrop_nginx_tls_snippet")
_PORTS = ("raindrop_http_port", "raindrop_https_port", "raindrop_admin_port")
_DAILY_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_OSS_PREFIX = re.compile(r"[a-z0-9][a-z0-9_-]*/")
# A CSP keyword or hash/nonce source: the only sources with quotes in them ('self', 'none', 'sha256-…').
_QUOTED_KEYWORD = re.compile(r"'[A-Za-z0-9+/=_-]+'")
# Characters that would end a CSP source or directive early, or be an nginx variable ($) in the map's value.
_CSP_BREAKERS = set(";,'\"$\n\r")


def _check_value(name: str, value: object, default: object) -> None:
    """Refuses a value of another type than its default, or one that would break a line-based config."""
    if default is not None and type(value) is not type(default):
        raise ConfigError(f"template variable {name!r} must be a {type(default).__name__}, not {type(value).__name__}")
    values = value if isinstance(value, list) else [value]
    if name not in _MULTILINE and any(isinstance(v, str) and ("\n" in v or "\r" in v) for v in values):
        raise ConfigError(f"template variable {name!r} holds a line break")
    if name in _AT_LEAST_ONE and value < 1:  # type: ignore[operator]
        raise ConfigError(f"template variable {name!r} must be at least 1")
    # Below 0 would need root (the worker runs as the app user), and nice(1) refuses past 19.
    if name == "raindrop_celery_nice" and not 0 <= value <= 19:  # type: ignore[operator]
        raise ConfigError(f"template variable {name!r} must be a niceness from 0 to 19, not {value}")
    if name == "raindrop_backup_time" and not _DAILY_TIME.fullmatch(str(value)):
        raise ConfigError(f"template variable {name!r}: {value!r} is not a time of day HH:MM (UTC), e.g. '03:30'")
    if name == "raindrop_backup_oss_prefix" and not _OSS_PREFIX.fullmatch(str(value)):
        raise ConfigError(f"template variable {name!r}: {value!r} must be a key prefix like 'backups/'")
    if name == "raindrop_csp":
        _check_csp(value)
    if name in {"raindrop_csp_asset_origin", "raindrop_oss_public_base"}:
        try:
            url_origin(str(value))
        except ConfigError as exc:
            raise ConfigError(f"template variable {name!r}: {exc}") from None
    if name == "raindrop_admin_cidrs":
        if not isinstance(value, list) or not value:
            raise ConfigError(f"template variable {name!r} must be a non-empty list of CIDRs")
        for cidr in value:
            try:
                ipaddress.ip_network(str(cidr), strict=False)
            except ValueError:
                raise ConfigError(f"template variable {name!r}: {cidr!r} is not a CIDR") from None


_CSP_NAME = re.compile(r"[a-z][a-z-]*")


def _check_csp(value: object) -> None:
    """raindrop_csp: directive names mapping to lists of sources; nothing that would end a directive early."""
    if not isinstance(value, dict) or not value:
        raise ConfigError("template variable 'raindrop_csp' must map directive names to lists of sources")
    for directive, sources in value.items():
        if not isinstance(directive, str) or not _CSP_NAME.fullmatch(directive):
            raise ConfigError(f"template variable 'raindrop_csp': {directive!r} is not a directive name")
        if not isinstance(sources, list) or not all(isinstance(s, str) and s for s in sources):
            raise ConfigError(f"template variable 'raindrop_csp': {directive} must be a list of sources")
        bad = next((s for s in sources if _CSP_BREAKERS & set(s) and not _QUOTED_KEYWORD.fullmatch(s)), None)
        if bad is not None:
            raise ConfigError(f"template variable 'raindrop_csp': {directive} source {bad!r} holds ; , $ or a quote")


def _check_tls(merged: Mapping[str, Any]) -> None:
    """The HTTPS settings (raindrop_tls and its companions), alone and together; the error names the variable."""
    mode, domain = merged["raindrop_tls"], merged["raindrop_site_domain"]
    if mode not in TLS_MODES:
        raise ConfigError(f"template variable 'raindrop_tls': {mode!r} is not one of {', '.join(TLS_MODES)}")
    if domain and not HOSTNAME.fullmatch(domain):
        raise ConfigError(
            f"template variable 'raindrop_site_domain': {domain!r} is not a lowercase DNS host name like "
            "'www.example.com'"
        )
    if mode == "acme" and not domain:
        raise ConfigError("template variable 'raindrop_site_domain' must be set for raindrop_tls 'acme': "
                          "the certificate is issued for that name")
    email = merged["raindrop_acme_email"]
    if email and not _EMAIL.fullmatch(email):
        raise ConfigError(f"template variable 'raindrop_acme_email': {email!r} is not an e-mail address")
    directory = merged["raindrop_acme_directory"]
    if not _HTTPS_URL.fullmatch(directory):
        raise ConfigError(f"template variable 'raindrop_acme_directory': {directory!r} is not an https:// URL "
                          "(RFC 8555 directories are served over https)")
    bundle = merged["raindrop_acme_ca_bundle"]
    for name, path in (("raindrop_acme_ca_bundle", bundle), *((n, merged[n]) for n in _TLS_PATHS)):
        if (path or name != "raindrop_acme_ca_bundle") and not _PLAIN_PATH.fullmatch(path):
            raise ConfigError(f"template variable {name!r}: {path!r} must be an absolute path of plain characters")
    ports = {name: merged[name] for name in _PORTS}
    for name, port in ports.items():
        if not 1 <= port <= 65535:
            raise ConfigError(f"template variable {name!r}: {port} is not a TCP port (1-65535)")
    if len(set(ports.values())) < len(ports):
        raise ConfigError(f"template variables {', '.join(repr(n) for n in _PORTS)} must be three different ports, "
                          f"not {', '.join(str(p) for p in ports.values())}")
    if merged["raindrop_hsts_max_age"] < 0:
        raise ConfigError("template variable 'raindrop_hsts_max_age' must be 0 or more seconds")


def render(name: str, variables: Mapping[str, Any]) -> str:
    """One template filled with exactly these variables; an undefined one raises ConfigError naming it."""
    try:
        template = _environment().get_template(f"{name}.j2")
    except jinja2.TemplateNotFound:
        raise ConfigError(f"no template {name!r} in config/ (there are: {', '.join(template_names())})") from None
    try:
        return template.render(variables)
    except jinja2.UndefinedError as exc:
        raise ConfigError(f"template {name!r}: {exc.message}") from exc


def render_all(given: Mapping[str, Any]) -> dict[TemplateFile, str]:
    """Every host config file rendered from the given values merged over the defaults."""
    variables = config_variables(given)
    return {host_file: render(host_file.template, variables) for host_file in HOST_FILES}


def htpasswd_line(user: str, password: str, secret_key: str | None = None) -> str:
    """One htpasswd line with a bcrypt hash; nginx on Debian 12 checks it through libxcrypt's crypt().

    With `secret_key` the salt is derived from it, so the same inputs give the same line and an unchanged
    `pulumi up` sees no change; without, the salt is random.
    """
    if not user or ":" in user or any(ch.isspace() for ch in user):
        raise ConfigError(f"admin user name {user!r} must be non-empty, without ':' or whitespace")
    if not password:
        raise ConfigError("admin password must not be empty")
    if len(password.encode()) > BCRYPT_MAX_BYTES:
        # bcrypt reads only the first 72 bytes; refuse rather than silently ignore the rest.
        raise ConfigError(f"admin password is longer than bcrypt's {BCRYPT_MAX_BYTES} bytes")
    if secret_key is None:
        salt = bcrypt.gensalt(rounds=HTPASSWD_BCRYPT_ROUNDS)
    else:
        derived = hmac.new(secret_key.encode(), b"raindrop admin htpasswd", hashlib.sha256).digest()[:16]
        salt = b"$2b$%02d$" % HTPASSWD_BCRYPT_ROUNDS
        salt += base64.b64encode(derived).translate(bytes.maketrans(_STD_B64, _BCRYPT_B64))[:22]
    return f"{user}:{bcrypt.hashpw(password.encode(), salt).decode()}\n"


if __name__ == "__main__":
    # `python -m app.render security-headers`: the site's headers with the defaults, as JSON, for the client's
    # e2e server (client/e2e/serve.mjs), so that it serves the build under the very policy nginx sends.
    import json
    import sys

    if sys.argv[1:] != ["security-headers"]:
        sys.exit("usage: python -m app.render security-headers")
    print(json.dumps(security_headers(load_defaults())))
