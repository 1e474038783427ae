"""The one step that carries secrets: it writes them, and every file rendered from them, to the host.

It writes /etc/raindrop/secrets.env (the passwords, for provision's SQL and checks) and stages the secret
config files (env file, supervisor.conf, redis.conf, htpasswd) in /etc/raindrop/staged, root-only;
provision and deploy install them from there with the right owner. Every other script reads secrets on
the host only, so they can be printed, diffed and hashed freely.

Secrets can also be generated on the host (`raindrop:hosts` without the password in the config): then the
files are rendered with a placeholder for each such secret, and the script fills them in on the host from
values it made the first time (/etc/raindrop/generated.env) and keeps. Those values never leave the host.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping

from app.steps.host import ALL_SECRET_NAMES, PEM_SECRET_NAMES, SECRET_NAMES, HostConfig, HostFile
from app.steps.script import Script
from app.steps.shell import heredoc, lines, q, write_files
from contracts import SAFE_SECRET, SAFE_SECRET_RULE

_PLACEHOLDER_PREFIX = "raindrop-generated-on-host-"
# Where the htpasswd's hash goes when the host computes it (it needs the admin password and the secret key).
HTPASSWD_PLACEHOLDER = "raindrop-host-computes-the-admin-htpasswd-hash"
# The bcrypt cost of the host's htpasswd, as app.render uses for the one made here.
_HOST_BCRYPT_COST = "10"


def placeholder(name: str, variant: str = "") -> str:
    """What a host-generated secret is rendered as. It passes the secret rule, so every filter treats it
    like a real value: quoting leaves it alone, and a hash of it (supervisor's SHA-1) is found by its hex."""
    return f"{_PLACEHOLDER_PREFIX}{variant}{name}"


def placeholder_forms(name: str, variant: str = "") -> dict[str, str]:
    """Each text a rendered file may hold for the secret `name`, by the form the host must put in its place
    ("plain" or "sha1")."""
    text = placeholder(name, variant)
    return {"plain": text, "sha1": hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()}


def with_placeholders(secrets: Mapping[str, str], generated: Collection[str]) -> dict[str, str]:
    """`secrets` plus a placeholder for every name the host generates: what the secret files render from."""
    overlap = sorted(set(secrets) & set(generated))
    if overlap:
        raise ValueError(f"secrets: {overlap} both given and generated on the host")
    return {**secrets, **{name: placeholder(name) for name in generated}}


# A PEM text: one or more blocks of base64 lines between BEGIN and END lines of the expected kind.
_PEM_BLOCK = r"-----BEGIN {kind}-----\r?\n[A-Za-z0-9+/=\r\n]+-----END {kind}-----"
_CERT_BLOCK = _PEM_BLOCK.format(kind="CERTIFICATE")
_PEM = {
    "tls_certificate": re.compile(rf"{_CERT_BLOCK}(\s*{_CERT_BLOCK})*"),
    "tls_private_key": re.compile(_PEM_BLOCK.format(kind="(?:RSA |EC )?PRIVATE KEY")),
}
_PEM_WHAT = {"tls_certificate": "the certificate and its chain", "tls_private_key": "one private key"}


def check_secrets(secrets: Mapping[str, str]) -> None:
    """Refuse missing, unknown or unsafe secrets, naming the secret but never showing its value."""
    missing = [name for name in SECRET_NAMES if name not in secrets]
    unknown = [name for name in secrets if name not in ALL_SECRET_NAMES]
    if missing or unknown:
        raise ValueError(f"secrets: missing {missing or 'none'}, unknown {unknown or 'none'}")
    for name in secrets:
        if name in PEM_SECRET_NAMES:
            if not _PEM[name].fullmatch(secrets[name].strip()):
                raise ValueError(f"secret {name} must be {_PEM_WHAT[name]} in PEM form")
        elif not SAFE_SECRET.match(secrets[name]):
            raise ValueError(f"secret {name} {SAFE_SECRET_RULE}")


def read_secret_command(config: HostConfig, name: str) -> str:
    """The command (run as root on the host) that prints the secret `name` from the host's secrets file."""
    if name not in ALL_SECRET_NAMES:
        raise ValueError(f"{name!r} is not a secret the host keeps")
    return f"sed -n s/^{name.upper()}=//p {q(config.secrets_file)}"


def _generate_on_host(config: HostConfig, generated: Collection[str]) -> str:
    """Bash: make each missing value once, in config.generated_secrets_file, and add them to "$tmp"."""
    if not generated:
        return ""
    gen = q(config.generated_secrets_file)
    out = [f"touch {gen}", f"chmod 600 {gen}"]
    for name in generated:
        var = name.upper()
        # 48 random bytes → about 62 letters and digits (the secret rule's safest subset). No `tr </dev/urandom
        # | head`: under pipefail tr's SIGPIPE would fail the step.
        out.append(
            f'grep -q "^{var}=" {gen} || printf "{var}=%s\\n" "$(head -c 48 /dev/urandom | base64 -w0 | tr -d "+/=")" '
            f">> {gen}"
        )
    pattern = "|".join(name.upper() for name in generated)
    out.append(f"grep -E '^({pattern})=' {gen} >> \"$tmp\"")
    return lines(out)


def _fill_in_on_host(generated: Collection[str], files: Collection[HostFile]) -> str:
    """Bash: put the host's values where the staged files hold placeholders, then prove none is left."""
    if not generated or not files:
        return ""
    out = ['sed_script="$stage/.fill-in.sed"', "{"]
    for name in generated:
        var, forms = name.upper(), placeholder_forms(name)
        # Values are letters and digits, hashes hex or the crypt alphabet: nothing sed would read specially
        # with | as the delimiter. The values go through a file, never a command line (ps shows those).
        out.append(f"  printf 's|%s|%s|g\\n' {forms['plain']} \"${var}\"")
        out.append(f"  printf 's|%s|%s|g\\n' {forms['sha1']} \"$(printf %s \"${var}\" | sha1sum | cut -c1-40)\"")
    if {"admin_password", "secret_key"} & set(generated):
        # The admin's htpasswd: bcrypt through the host's crypt() (perl-base is Essential in Debian), its salt
        # derived from the secret key like app.steps.files.htpasswd_line, so every run gives the same line.
        out += [
            '  salt="$(printf "raindrop admin htpasswd:%s" "$SECRET_KEY" | sha256sum | cut -c1-21)."',
            "  hash=\"$(RAINDROP_PW=\"$ADMIN_PASSWORD\" RAINDROP_SALT=\"\\$2b\\$"
            f"{_HOST_BCRYPT_COST}\\$$salt\" perl -e 'print crypt($ENV{{RAINDROP_PW}}, $ENV{{RAINDROP_SALT}})')\"",
            '  case "$hash" in',
            "    '$2b$'*) ;;",
            '    *) echo "crypt() made no bcrypt hash for the admin htpasswd" >&2; exit 1;;',
            "  esac",
            f"  printf 's|%s|%s|g\\n' {HTPASSWD_PLACEHOLDER} \"$hash\"",
        ]
    out += [
        '} > "$sed_script"',
        'sed -i -f "$sed_script" "$stage"/[0-9][0-9]',
        'rm -f "$sed_script"',
        f'if grep -lE \'{_PLACEHOLDER_PREFIX}|{HTPASSWD_PLACEHOLDER}\' "$stage"/[0-9][0-9]; then',
        '  echo "a staged file above still holds a placeholder for a host-generated secret" >&2; exit 1',
        "fi",
    ]
    return lines(out)


def write_secrets(config: HostConfig, secrets: Mapping[str, str], files: Iterable[HostFile] = (),
                  generated: Collection[str] = ()) -> Script:
    """Write `secrets` to config.secrets_file and stage `files` (those rendered from secrets), root-only.

    `generated` names the secrets the host makes itself the first time and keeps: `files` then hold
    placeholders for them (app.steps.files.secret_files with the same names), which the host fills in.
    """
    check_secrets(with_placeholders(secrets, generated))
    files = tuple(files)
    for host_file in files:
        if not host_file.private:
            raise ValueError(f"{host_file.path} holds a secret, so mode {host_file.mode} must give others no access")
    generated = [name for name in ALL_SECRET_NAMES if name in generated]
    # PEM secrets are multi-line files, which the sourced secrets.env cannot hold: they reach the host only as
    # the staged files rendered from them.
    content = "".join(f"{name.upper()}={secrets[name]}\n" for name in ALL_SECRET_NAMES
                      if name in secrets and name not in PEM_SECRET_NAMES)
    etc, secrets_file, staged = q(config.etc_dir), q(config.secrets_file), q(config.staged_dir)
    body = lines(
        "umask 077",
        # 711: the app user and nginx reach their own files in it (each file keeps its own mode), nobody lists it.
        f"mkdir -p {etc}",
        f"chmod 711 {etc}",
        f"tmp=$(mktemp {etc}/.secrets.XXXXXX)",
        heredoc('cat > "$tmp"', content),
        _generate_on_host(config, generated),
        f'if cmp -s "$tmp" {secrets_file}; then rm -f "$tmp"; else mv -f "$tmp" {secrets_file}; fi',
        f"chmod 600 {secrets_file}",
        # The values the placeholders stand for (letters, digits, . _ - only, so sourcing is safe).
        f". {secrets_file}" if generated else "",
        f"stage=$(mktemp -d {etc}/.staged.XXXXXX)",
        write_files('"$stage"', files),
        _fill_in_on_host(generated, files),
        f"rm -rf {staged}.old",
        f"if [ -d {staged} ]; then mv {staged} {staged}.old; fi",
        f'mv "$stage" {staged}',
        f"rm -rf {staged}.old",
        f"echo 'secrets in place: {config.secrets_file}, {len(files)} files staged in {config.staged_dir}'",
    )
    return Script(name="secrets", body=body, secret=True)
