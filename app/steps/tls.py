"""raindrop-tls: the host's certificate for nginx, built from app/steps/sh/tls.sh.

The logic is shell and stays in app/steps/sh/tls.sh (shellcheck reads it directly). This module chooses only
the variables in front of it, the files provision places with it, and where the steps call it:

  provision  places the command, certbot's deploy hook and (settings in config/tls.conf.j2) runs
             `raindrop-tls prepare` before nginx starts, so the TLS servers always have a certificate to load
             (a self-signed stand-in until a real one exists); enables certbot.timer for renewals.
  deploy     once the release is live (health gate passed), `raindrop-tls obtain` asks the ACME CA; a failure
             is reported, never fatal: the site keeps serving.

Modes without TLS on the host (`none`, `offloaded`) get none of this.
"""

from __future__ import annotations

from pathlib import Path

from app.render import TLS_ON_HOST
from app.steps.host import HostConfig, HostFile
from app.steps.script import Script
from app.steps.shell import lines, prelude, q

SH_DIR = Path(__file__).resolve().parent / "sh"
# certbot's name for the one lineage of this host: /etc/letsencrypt/live/raindrop.
CERT_NAME = "raindrop"
LETSENCRYPT_DIR = "/etc/letsencrypt"  # certbot's config directory (Debian's default, where certbot.timer looks)
NGINX_PID = "/run/nginx.pid"  # config/nginx.conf.j2's pid
# Debian's certbot.timer runs `certbot -q renew` twice a day; the hook below reloads nginx after a renewal.
RENEW_TIMER = "certbot.timer"
DEPLOY_HOOK = f"{LETSENCRYPT_DIR}/renewal-hooks/deploy/raindrop-nginx-reload"


def tls_command(config: HostConfig) -> Script:
    """config.tls_command: its text is what provision installs."""
    body = lines(
        prelude(config),
        f"TLS_CONF={q(config.tls_conf)}",
        f"CERT_NAME={CERT_NAME}",
        f"LETSENCRYPT_DIR={LETSENCRYPT_DIR}",
        f"NGINX_PID={NGINX_PID}",
        # The prelude's die() speaks of a deploy; this command names itself.
        "die() { printf '\\n!!! RAINDROP TLS FAILED: %s\\n\\n' \"$*\" >&2; exit 1; }",
        (SH_DIR / "tls.sh").read_text(),
    )
    return Script(name="raindrop-tls", body=body)


def tls_files(config: HostConfig) -> tuple[HostFile, ...]:
    """The command (root only: it handles private keys) and, for ACME, certbot's deploy hook."""
    files = [HostFile(config.tls_command, tls_command(config).text(), mode="700")]
    if config.tls_mode == "acme":
        files.append(HostFile(DEPLOY_HOOK, (SH_DIR / "certbot-deploy-hook.sh").read_text(), mode="755"))
    return tuple(files)


def provision_tls(config: HostConfig, place: str) -> str:
    """Provision's lines, before the services start; `place` is the bash that installs tls_files(config)."""
    if config.tls_mode not in TLS_ON_HOST:
        return ""
    return lines(
        'log "https: raindrop-tls, certbot\'s deploy hook, a certificate nginx can load"',
        place,
        f"{q(config.tls_command)} prepare",
        f"timer_enable {RENEW_TIMER}" if config.tls_mode == "acme" else "",
    )


def deploy_tls(config: HostConfig) -> str:
    """Deploy's line once the release is live: the ACME request (it never fails the deploy)."""
    if config.tls_mode != "acme":
        return ""
    # The release is live by now: whatever goes wrong with the certificate, the deploy itself succeeded.
    return (f"{q(config.tls_command)} obtain || log \"raindrop-tls obtain failed (above): the release is live, "
            f"nginx keeps the certificate it had\"")
