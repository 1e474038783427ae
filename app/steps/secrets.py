"""The one step that carries secrets: it writes them, and every file rendered from them, to the host.

It writes /etc/raindrop/secrets.env (the passwords, for provision's SQL and checks) and stages the secret
config files (env file, supervisor.conf, redis.conf, htpasswd) in /etc/raindrop/staged, root-only;
provision and deploy install them from there with the right owner. Every other script reads secrets on
the host only, so they can be printed, diffed and hashed freely.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from app.steps.config import ALL_SECRET_NAMES, SECRET_NAMES, HostConfig, HostFile
from app.steps.script import Script
from app.steps.shell import heredoc, lines, q, write_files
from contracts import SAFE_SECRET, SAFE_SECRET_RULE


def check_secrets(secrets: Mapping[str, str]) -> None:
    """Refuse missing, unknown or unsafe secrets, naming the secret but never showing its value."""
    missing = [name for name in SECRET_NAMES if name not in secrets]
    unknown = [name for name in secrets if name not in ALL_SECRET_NAMES]
    if missing or unknown:
        raise ValueError(f"secrets: missing {missing or 'none'}, unknown {unknown or 'none'}")
    for name in secrets:
        if not SAFE_SECRET.match(secrets[name]):
            raise ValueError(f"secret {name} {SAFE_SECRET_RULE}")


def write_secrets(config: HostConfig, secrets: Mapping[str, str], files: Iterable[HostFile] = ()) -> Script:
    """Write `secrets` to config.secrets_file and stage `files` (those rendered from secrets), root-only."""
    check_secrets(secrets)
    files = tuple(files)
    for host_file in files:
        if not host_file.private:
            raise ValueError(f"{host_file.path} holds a secret, so mode {host_file.mode} must give others no access")
    content = "".join(f"{name.upper()}={secrets[name]}\n" for name in ALL_SECRET_NAMES if name in secrets)
    etc, secrets_file, staged = q(config.etc_dir), q(config.secrets_file), q(config.staged_dir)
    body = lines(
        "umask 077",
        # 711: the app user and nginx reach their own files in it (each file keeps its own mode), nobody lists it.
        f"mkdir -p {etc}",
        f"chmod 711 {etc}",
        f"tmp=$(mktemp {etc}/.secrets.XXXXXX)",
        heredoc('cat > "$tmp"', content),
        f'if cmp -s "$tmp" {secrets_file}; then rm -f "$tmp"; else mv -f "$tmp" {secrets_file}; fi',
        f"chmod 600 {secrets_file}",
        f"stage=$(mktemp -d {etc}/.staged.XXXXXX)",
        write_files('"$stage"', files),
        f"rm -rf {staged}.old",
        f"if [ -d {staged} ]; then mv {staged} {staged}.old; fi",
        f'mv "$stage" {staged}',
        f"rm -rf {staged}.old",
        f"echo 'secrets in place: {config.secrets_file}, {len(files)} files staged in {config.staged_dir}'",
    )
    return Script(name="secrets", body=body, secret=True)
