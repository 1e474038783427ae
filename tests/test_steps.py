"""Host steps, tested like Kamal's command classes: by the text they return, from a plain config.

Then the same deploy and rollback scripts run for real with bash against a scratch directory tree (the
paths are all config), with supervisorctl, nginx, service, curl and runuser replaced by small recorders
on PATH. tar, flock, python3 -m venv and pip --no-index are the real ones.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import bcrypt
import pytest
from helpers import (
    BUNDLE,
    SECRETS,
    STUBS,
    TEMPLATE_VALUES,
    Fixture,
    config,
    stub_bin,
    write_client_build,
    write_server_project,
)

from app import render
from app.steps import Bundle, HostConfig, HostFile
from app.steps.backup import backup_command, restore_command
from app.steps.deploy import deploy, deploy_phases
from app.steps.files import host_config, public_files, secret_files
from app.steps.provision import provision
from app.steps.rollback import rollback, rollback_phases
from app.steps.secrets import read_secret_command, write_secrets
from app.steps.shell import COMMON_SH, lines, prelude
from app.steps.teardown import teardown


def all_scripts(cfg: HostConfig | None = None):
    cfg = cfg or config()
    return [provision(cfg), deploy(cfg, BUNDLE), rollback(cfg), rollback(cfg, "20260101000000-0123456789abcdef")]


# --- deploy, by its text ------------------------------------------------------------------------------


DEPLOY_PHASES = [
    "prelude", "bundle settings", "lock", "skip if current", "check bundle", "release dir", "unpack", "venv",
    "server", "uploads", "config files", "rollback command", "migrations", "switch", "health gate", "cleanup",
    "unlock",
]
ROLLBACK_PHASES = [
    "prelude", "target", "lock", "choose release", "switch", "reload", "mark releases", "health gate", "unlock",
]


def names(phases: list[tuple[str, str]]) -> list[str]:
    return [name for name, _text in phases]


def bash_function(text: str, name: str) -> str:
    """The whole definition of one bash function in `text`, from `name() {` to its closing `}` line."""
    start = text.index(f"\n{name}() {{\n") + 1
    return text[start : text.index("\n}\n", start) + 3]


def test_deploy_is_its_phases_in_order():
    phases = deploy_phases(config(), BUNDLE)
    assert names(phases) == DEPLOY_PHASES
    assert deploy(config(), BUNDLE).body == lines(text for _name, text in phases)
    # The client index, when the assets are published elsewhere, replaces the bundle's right after the server.
    with_index = deploy_phases(config(client_index="<html></html>\n"), BUNDLE)
    assert names(with_index) == [*DEPLOY_PHASES[:9], "client index", *DEPLOY_PHASES[9:]]
    assert dict(with_index)["client index"] == (
        "cat > \"$RELEASE/client/index.html\" <<'RAINDROP_EOF'\n<html></html>\nRAINDROP_EOF\n"
    )


def test_rollback_is_its_phases_in_order():
    previous, named = rollback_phases(config(), "''"), rollback_phases(config(), "20260101000000-abc")
    assert names(previous) == names(named) == ROLLBACK_PHASES
    assert rollback(config()).body == lines(text for _name, text in previous)
    assert rollback(config(), "20260101000000-abc").body == lines(text for _name, text in named)
    assert dict(named)["target"] == "TARGET=20260101000000-abc\n"
    assert dict(previous)["target"] == "TARGET=''\n"


def test_prelude_is_the_host_variables_then_the_shared_shell_file():
    cfg = config(lock_wait_seconds=30, health_attempts=7, health_interval_seconds=2)
    assert prelude(cfg) == (
        "BASE=/srv/raindrop\n"
        "APP_USER=raindrop\n"
        "SECRETS_FILE=/etc/raindrop/secrets.env\n"
        "STAGED=/etc/raindrop/staged\n"
        "ENV_FILE=/etc/raindrop/raindrop.env\n"
        "GUNICORN_CONFIG=/etc/raindrop/gunicorn.conf.py\n"
        "WEB_PROGRAMS=('raindrop-web:*')\n"
        "WORKER_PROGRAMS=('raindrop-celery:*')\n"
        "HEALTH_URL=http://127.0.0.1:80/api/health\n"
        "SUPERVISORD_PID=/var/run/supervisord.pid\n"
        "HEALTH_ATTEMPTS=7\n"
        "HEALTH_INTERVAL=2\n"
        "LOCK_WAIT=30\n"
    ) + COMMON_SH.read_text()
    for script in all_scripts(cfg):
        assert script.body.startswith(prelude(cfg))


def test_shellcheck_reads_the_shared_shell_file_as_it_is():
    result = subprocess.run(["shellcheck", str(COMMON_SH)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_deploy_switches_current_atomically():
    text = deploy(config(), BUNDLE).text()
    # a rename never leaves current missing; ln -sfn would (it unlinks, then links)
    assert bash_function(text, "switch_to") == (
        "switch_to() {\n"
        '  rm -f "$BASE/.current.tmp"\n'
        '  ln -s "$1" "$BASE/.current.tmp"\n'
        '  mv -T "$BASE/.current.tmp" "$CURRENT"\n'
        '  log "current -> $1"\n'
        "}\n"
    )
    assert dict(deploy_phases(config(), BUNDLE))["switch"] == (
        'OLD_VENV=$(deps_of "$CURRENT")\nswitch_to "$RELEASE"\nSWITCHED=yes\n'
    )


def test_deploy_holds_a_lock_and_releases_it():
    phases = deploy_phases(config(lock_wait_seconds=30), BUNDLE)
    assert "\nLOCK_WAIT=30\n" in dict(phases)["prelude"]
    assert bash_function(COMMON_SH.read_text(), "take_lock") == (
        "take_lock() {\n"
        '  install -d -m 755 "$BASE"\n'
        '  exec 9>"$BASE/.deploy.lock"\n'
        '  flock -w "$LOCK_WAIT" 9 || die "another deploy holds $BASE/.deploy.lock"\n'
        "}\n"
    )
    # taken before anything is unpacked, released last
    assert phases[2] == ("lock", "take_lock\n")
    assert names(phases).index("lock") < names(phases).index("unpack")
    assert phases[-1] == ("unlock", "release_lock\n")
    assert deploy(config(lock_wait_seconds=30), BUNDLE).text().endswith("\ncleanup\nrelease_lock\n")


def test_deploy_unpacks_into_a_timestamped_release_after_checking_the_upload():
    phases = dict(deploy_phases(config(), BUNDLE))
    assert "BUNDLE=/var/tmp/raindrop-0123456789abcdef.tar.gz\n" in phases["bundle settings"]
    assert f"\nBUNDLE_SHA256={'ab' * 32}\n" in phases["bundle settings"]
    assert phases["check bundle"] == (
        '[ -f "$BUNDLE" ] || die "bundle $BUNDLE is missing: upload it first"\n'
        'echo "$BUNDLE_SHA256  $BUNDLE" | sha256sum -c --quiet - || die "bundle $BUNDLE does not match its sha256"\n'
    )
    assert '\nRELEASE="$RELEASES/$(date -u +%Y%m%d%H%M%S)-$HASH"\n' in phases["release dir"]
    assert phases["unpack"] == (
        'log "unpack $BUNDLE into $RELEASE"\n'
        'install -d -m 755 "$RELEASE"\n'
        'tar -xzf "$BUNDLE" -C "$RELEASE" --no-same-owner\n'
        '[ "$(cat "$RELEASE/DEPS_HASH")" = "$DEPS_HASH" ] || die "the bundle\'s DEPS_HASH is not $DEPS_HASH"\n'
    )


def test_deploy_installs_only_from_the_wheelhouse_and_reuses_the_venv():
    text = deploy(config(), BUNDLE).text()
    assert 'DEPS="$SHARED/venvs/$DEPS_HASH"' in text
    assert 'if [ -f "$DEPS/.complete" ]; then' in text
    assert (
        '"$DEPS/bin/pip" install --quiet --no-index --find-links "$RELEASE/wheels/deps" '
        '-r "$RELEASE/wheels/deps/requirements.txt"'
    ) in text
    server = '"$DEPS/bin/pip" install --quiet --no-index --no-deps --target "$RELEASE/lib" "$RELEASE"/wheels/app/*.whl'
    assert server in text
    assert 'echo "$CURRENT/lib" > ' in text  # the .pth that makes HUP load the new code


def test_deploy_links_uploads_migrates_then_switches():
    text = deploy(config(), BUNDLE).text()
    link = text.index('ln -s "$SHARED/uploads" "$RELEASE/uploads"')
    migrate = text.index('runuser -u "$APP_USER" -- "$RELEASE/lib/bin/raindrop" db upgrade')
    switch = text.index('switch_to "$RELEASE"')
    assert link < migrate < switch


def test_deploy_reloads_gracefully():
    text = deploy(config(), BUNDLE).text()
    assert 'supervisorctl signal HUP "$1" || return 1' in text
    # then wait until no old worker listens, so the health check meets the new code
    assert '[[ "$listening" == *"pid=$pid,"* ]] && still=yes' in text
    assert 'supervisorctl restart "$group" & WORKER_JOBS+=($!)' in text  # awaited by wait_workers
    assert "WEB_PROGRAMS=('raindrop-web:*')" in text
    assert "WORKER_PROGRAMS=('raindrop-celery:*')" in text
    assert "nginx -t -q || return 1" in text
    assert "nginx -s reload || return 1" in text


def test_deploy_health_gate_retries_then_switches_back_loudly():
    cfg = config(health_attempts=7, health_interval_seconds=2)
    text = deploy(cfg, BUNDLE).text()
    assert "\nHEALTH_URL=http://127.0.0.1:80/api/health\nSUPERVISORD_PID=/var/run/supervisord.pid\n" in text
    assert "\nHEALTH_ATTEMPTS=7\nHEALTH_INTERVAL=2\n" in text
    assert bash_function(text, "healthy") == (
        "healthy() {\n"
        '  for _ in $(seq "$HEALTH_ATTEMPTS"); do\n'
        '    if curl -fsS -o /dev/null --max-time 5 "$HEALTH_URL"; then log "healthy: $HEALTH_URL"; return 0; fi\n'
        '    sleep "$HEALTH_INTERVAL"\n'
        "  done\n"
        '  log "not healthy after $HEALTH_ATTEMPTS attempts: $HEALTH_URL"\n'
        "  return 1\n"
        "}\n"
    )
    # an unhealthy release is marked, current goes back with its files, and the deploy fails naming both
    assert dict(deploy_phases(cfg, BUNDLE))["health gate"] == (
        'if reload_app "$OLD_VENV" && healthy && wait_workers; then\n'
        '  log "release $(basename "$RELEASE") is live"\n'
        "else\n"
        "  wait_workers || true\n"
        '  date -u +%Y-%m-%dT%H:%M:%SZ > "$RELEASE/BAD_RELEASE"\n'
        '  [ -n "$PREVIOUS" ] || die "release $(basename "$RELEASE") is not healthy and there is no previous release"\n'
        '  log "release $(basename "$RELEASE") is not healthy: switching back to $PREVIOUS"\n'
        '  switch_to "$PREVIOUS"\n'
        '  apply_files "$PREVIOUS/host"\n'
        '  reload_app "$DEPS" && healthy && wait_workers || log "the previous release is not healthy either"\n'
        '  die "release $(basename "$RELEASE") failed its health check; rolled back to $(basename "$PREVIOUS")"\n'
        "fi\n"
    )


def test_deploy_keeps_the_last_n_releases():
    assert "[ $count -gt 5 ]" in deploy(config(), BUNDLE).text()
    assert "[ $count -gt 3 ]" in deploy(config(keep_releases=3), BUNDLE).text()
    with pytest.raises(ValueError, match="keep_releases must be at least 2"):
        config(keep_releases=1)


def test_deploy_of_the_current_revision_does_nothing():
    text = deploy(config(), BUNDLE).text()
    assert 'if [ -L "$CURRENT" ] && [ "$(cat "$CURRENT/REVISION" 2>/dev/null)" = "$REVISION" ]; then' in text


def test_deploy_carries_its_config_files_in_the_release():
    text = deploy(config(), BUNDLE).text()
    assert "cat > \"$RELEASE/host\"/00 <<'RAINDROP_EOF'\nserver { listen 80; }\nRAINDROP_EOF\n" in text
    assert "644 root:root /etc/nginx/sites-available/raindrop.conf 00 -" in text
    assert 'apply_files "$RELEASE/host"' in text


# --- provision, by its text ---------------------------------------------------------------------------


def test_provision_uses_the_apt_proxy_and_mirror_when_given():
    text = provision(config(apt_proxy="http://10.0.0.1:3128", apt_mirror="http://mirror.example/debian/")).text()
    assert 'Acquire::http::Proxy "http://10.0.0.1:3128";' in text
    assert "deb http://mirror.example/debian bookworm main" in text
    assert "deb http://mirror.example/debian-security bookworm-security main" in text
    plain = provision(config()).text()
    assert "rm -f /etc/apt/apt.conf.d/80raindrop-proxy" in plain
    assert "Acquire::http::Proxy" not in plain


def test_apt_settings_must_be_urls():
    with pytest.raises(ValueError, match="apt_proxy"):
        config(apt_proxy='http://x";\nAPT::Evil "1')


def test_provision_installs_the_packages_only_when_missing():
    text = provision(config()).text()
    assert "for package in nginx supervisor redis-server mariadb-server python3 python3-venv curl" in text
    assert 'dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")' in text
    assert 'apt-get install -y -q --no-install-recommends "${missing[@]}"' in text


def test_provision_makes_the_app_user_and_layout():
    text = provision(config()).text()
    assert (
        "getent passwd raindrop >/dev/null || useradd --system --user-group --home-dir /srv/raindrop "
        "--no-create-home --shell /usr/sbin/nologin raindrop"
    ) in text
    assert 'install -d -m 755 -o root -g root "$BASE" "$RELEASES" "$SHARED" "$SHARED/venvs"' in text
    assert 'install -d -m 755 -o raindrop -g raindrop "$SHARED/uploads" /var/log/raindrop' in text


def test_provision_secures_mariadb():
    text = provision(config()).text()
    assert "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket;" in text
    assert "DELETE FROM mysql.global_priv WHERE User='';" in text
    assert "DROP DATABASE IF EXISTS test;" in text
    assert "CREATE DATABASE IF NOT EXISTS raindrop CHARACTER SET utf8mb4" in text
    assert "CREATE USER IF NOT EXISTS 'raindrop'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';" in text
    assert "ON raindrop.* TO 'raindrop'@'localhost', 'raindrop'@'127.0.0.1';" in text
    assert "GRANT ALL" not in text


def test_provision_enables_and_starts_every_service_with_or_without_systemd():
    text = provision(config()).text()
    assert 'if [ -d /run/systemd/system ]; then systemctl enable --quiet "$1"; else update-rc.d "$1" defaults' in text
    assert "for service in mariadb redis-server supervisor nginx; do" in text
    assert '  svc_enable "$service"\n  svc_start "$service"' in text


def test_provision_checks_redis_wants_its_password():
    text = provision(config()).text()
    assert 'die "redis answers without a password"' in text
    assert 'REDISCLI_AUTH="$REDIS_PASSWORD" redis_reply' in text


# --- secrets: only in the one secret script --------------------------------------------------------------


def test_secrets_script_is_secret_root_only_and_the_only_holder():
    cfg = config()
    script = write_secrets(cfg, SECRETS)
    assert script.secret
    assert "umask 077" in script.body and "chmod 600 /etc/raindrop/secrets.env" in script.body
    for value in SECRETS.values():
        assert value in script.body
    for other in all_scripts(cfg):
        assert not other.secret
        for value in SECRETS.values():
            assert value not in other.text()
            assert urllib.parse.quote(value, safe="") not in other.text()


def test_secret_files_go_only_to_the_secrets_step():
    values = TEMPLATE_VALUES
    cfg = host_config(values)
    staged = secret_files(values, SECRETS)
    paths = {f.path for f in staged}
    assert {"/etc/raindrop/raindrop.env", "/etc/supervisor/conf.d/raindrop.conf", "/etc/redis/redis.conf"} <= paths
    assert "/etc/raindrop/admin.htpasswd" in paths
    assert all(f.private for f in staged)
    public = {f.path for f in cfg.system_files + cfg.app_files}
    assert not paths & public
    secret_text = write_secrets(cfg, SECRETS, staged).body
    derived = [f.content for f in staged if f.path == "/etc/raindrop/admin.htpasswd"]
    for script in all_scripts(cfg):
        for value in [*SECRETS.values(), *derived]:
            assert value.strip() not in script.text()
    assert derived[0].strip() in secret_text


def test_public_files_and_htpasswd_are_stable():
    assert public_files(TEMPLATE_VALUES) == public_files(TEMPLATE_VALUES)
    assert secret_files(TEMPLATE_VALUES, SECRETS) == secret_files(TEMPLATE_VALUES, SECRETS)


def test_template_values_must_not_carry_secrets():
    with pytest.raises(ValueError, match="raindrop_db_password"):
        public_files({**TEMPLATE_VALUES, "raindrop_db_password": "x" * 20})


def test_bad_secrets_are_named_but_not_shown():
    with pytest.raises(ValueError, match=r"missing \['secret_key'\]"):
        write_secrets(config(), {k: v for k, v in SECRETS.items() if k != "secret_key"})
    with pytest.raises(ValueError, match="secret db_password must be") as error:
        write_secrets(config(), {**SECRETS, "db_password": "it's-a'secret;$(x)"})
    assert "it's" not in str(error.value)


# --- secrets generated on the host (raindrop:hosts without them in the config) ------------------------------

GIVEN = {"db_password": SECRETS["db_password"]}
GENERATED = ("redis_password", "admin_password", "secret_key")


def test_generated_secrets_are_placeholders_in_the_script_and_made_once_on_the_host():
    staged = secret_files(TEMPLATE_VALUES, GIVEN, GENERATED)
    env_file = next(f for f in staged if f.path == "/etc/raindrop/raindrop.env")
    assert "RAINDROP_SECRET_KEY=raindrop-generated-on-host-secret_key\n" in env_file.content
    assert ":raindrop-generated-on-host-redis_password@127.0.0.1:6379/" in env_file.content
    htpasswd = next(f for f in staged if f.path == "/etc/raindrop/admin.htpasswd")
    assert htpasswd.content == "admin:raindrop-host-computes-the-admin-htpasswd-hash\n"
    body = write_secrets(config(), GIVEN, staged, GENERATED).body
    assert f"DB_PASSWORD={SECRETS['db_password']}\n" in body
    assert (
        'grep -q "^REDIS_PASSWORD=" /etc/raindrop/generated.env || printf "REDIS_PASSWORD=%s\\n" '
        '"$(head -c 48 /dev/urandom | base64 -w0 | tr -d "+/=")" >> /etc/raindrop/generated.env\n'
    ) in body
    assert "grep -E '^(REDIS_PASSWORD|ADMIN_PASSWORD|SECRET_KEY)=' /etc/raindrop/generated.env >> \"$tmp\"\n" in body
    assert "sed -i -f \"$sed_script\" \"$stage\"/[0-9][0-9]\n" in body


def test_a_secret_cannot_be_both_given_and_generated():
    with pytest.raises(ValueError) as error:
        write_secrets(config(), SECRETS, [], ("admin_password",))
    assert str(error.value) == "secrets: ['admin_password'] both given and generated on the host"


def test_read_secret_command_prints_one_value():
    assert read_secret_command(config(), "admin_password") == "sed -n s/^ADMIN_PASSWORD=//p /etc/raindrop/secrets.env"
    with pytest.raises(ValueError):
        read_secret_command(config(), "root_password")


def _staged(etc: Path) -> dict[str, str]:
    """The staged files by their host path, as the secrets step left them for provision."""
    staged = etc / "staged"
    rows = [line.split("\t") for line in (staged / "files.tsv").read_text().splitlines()]
    return {path: (staged / name).read_text() for _mode, _owner, path, name, _restart in rows}


def test_generated_secrets_run_for_real_fill_every_file_and_stay_the_same(tmp_path):
    """The generated-secrets script in real bash on a scratch /etc: the files it leaves are exactly what the
    Python rendering gives for the values it made, the htpasswd checks with bcrypt, a rerun changes nothing."""
    etc = tmp_path / "etc"
    cfg = HostConfig.from_defaults(etc_dir=str(etc))
    script = write_secrets(cfg, GIVEN, secret_files(TEMPLATE_VALUES, GIVEN, GENERATED), GENERATED)
    path = tmp_path / "secrets.sh"
    path.write_text(script.text())
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path)}
    first = subprocess.run(["bash", str(path)], capture_output=True, text=True, env=env, check=False)
    assert first.returncode == 0, first.stdout + first.stderr
    generated = dict(line.split("=", 1) for line in (etc / "generated.env").read_text().splitlines())
    assert sorted(generated) == ["ADMIN_PASSWORD", "REDIS_PASSWORD", "SECRET_KEY"]
    assert all(value.isalnum() and len(value) >= 40 for value in generated.values())
    assert (etc / "generated.env").stat().st_mode & 0o777 == 0o600
    real = {**GIVEN, **{name: generated[name.upper()] for name in GENERATED}}
    assert (etc / "secrets.env").read_text() == "".join(
        f"{name.upper()}={real[name]}\n" for name in ("db_password", "redis_password", "admin_password", "secret_key")
    )

    staged = _staged(etc)
    htpasswd = staged.pop("/etc/raindrop/admin.htpasswd")
    expected = {f.path: f.content for f in secret_files(TEMPLATE_VALUES, real)}
    del expected["/etc/raindrop/admin.htpasswd"]
    assert staged == expected
    user, hashed = htpasswd.rstrip("\n").split(":", 1)
    assert user == "admin" and hashed.startswith("$2b$10$")
    assert bcrypt.checkpw(real["admin_password"].encode(), hashed.encode())

    second = subprocess.run(["bash", str(path)], capture_output=True, text=True, env=env, check=False)
    assert second.returncode == 0, second.stderr
    assert dict(line.split("=", 1) for line in (etc / "generated.env").read_text().splitlines()) == generated
    assert _staged(etc) == {**staged, "/etc/raindrop/admin.htpasswd": htpasswd}


def test_a_template_using_a_generated_secret_in_another_form_is_refused(monkeypatch):
    """Only the plain value and its SHA-1 can be filled in on the host; any other filter must fail here."""
    fresh = render._environment.__wrapped__  # uncached: the shared environment stays untouched

    def environment():
        env = fresh()
        env.filters["supervisor_password"] = lambda value: "{SHA256}" + hashlib.sha256(str(value).encode()).hexdigest()
        return env

    monkeypatch.setattr(render, "_environment", environment)
    with pytest.raises(ValueError) as error:
        secret_files(TEMPLATE_VALUES, GIVEN, GENERATED)
    assert str(error.value) == (
        "/etc/supervisor/conf.d/raindrop.conf: uses a host-generated secret in a form other than plain or SHA-1"
    )


def test_a_readable_file_cannot_be_staged_as_secret():
    leaky = HostFile("/etc/raindrop/raindrop.env", "RAINDROP_SECRET_KEY=x\n", mode="644")
    with pytest.raises(ValueError, match="must give others no access"):
        write_secrets(config(), SECRETS, [leaky])


def test_host_file_refuses_relative_paths_and_odd_modes():
    with pytest.raises(ValueError, match="absolute"):
        HostFile("etc/x", "")
    with pytest.raises(ValueError, match="octal mode"):
        HostFile("/etc/x", "", mode="0644")


def test_teardown_stops_the_app_and_takes_the_deployed_sites_off_nginx():
    assert teardown(config()).body == (
        "if command -v supervisorctl >/dev/null; then supervisorctl stop 'raindrop-web:*' 'raindrop-celery:*' || true; "
        "fi\n"
        "rm -f /etc/nginx/sites-enabled/raindrop.conf /etc/nginx/sites-enabled/raindrop-admin.conf\n"
        "if command -v nginx >/dev/null && nginx -t 2>/dev/null; then nginx -s reload || true; fi\n"
        "echo 'raindrop stopped; data kept'\n"
    )


# --- rollback ---------------------------------------------------------------------------------------------


def test_rollback_picks_previous_good_release_or_the_named_one():
    previous = rollback(config()).text()
    assert "TARGET=''" in previous
    assert 'TO=$(previous_release) || die "no earlier good release to roll back to"' in previous
    assert '[ -f "$RELEASES/$name/BAD_RELEASE" ] && continue' in previous
    named = rollback(config(), "20260101000000-0123456789abcdef").text()
    assert "TARGET=20260101000000-0123456789abcdef" in named
    with pytest.raises(ValueError, match="release name"):
        rollback(config(), "../../etc")


def test_rollback_command_is_installed_by_deploy_and_printable():
    text = deploy(config(), BUNDLE).text()
    assert 'TARGET="${1:-}"' in text
    assert "install_file \"$tmp\" /usr/local/bin/raindrop-rollback 755 root:root" in text
    printed = subprocess.run(
        [sys.executable, "-m", "app.steps.rollback", "20260101000000-abc"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout
    assert printed.startswith("#!/bin/bash\nset -euo pipefail\n")
    assert "TARGET=20260101000000-abc" in printed


# --- every script is valid bash -------------------------------------------------------------------------------


def every_script():
    cfg = config(apt_proxy="http://10.0.0.1:3128", apt_mirror="http://mirror.example/debian")
    return [
        write_secrets(cfg, SECRETS, secret_files(TEMPLATE_VALUES, SECRETS)),
        write_secrets(cfg, GIVEN, secret_files(TEMPLATE_VALUES, GIVEN, GENERATED), GENERATED),
        *all_scripts(cfg),
        backup_command(cfg),
        restore_command(cfg),
    ]


@pytest.mark.parametrize("script", every_script(), ids=lambda s: s.name + ("-named" if "TARGET=2" in s.body else ""))
def test_bash_parses_every_script(script, tmp_path):
    path = tmp_path / "script.sh"
    path.write_text(script.text())
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", every_script(), ids=lambda s: s.name)
def test_shellcheck_finds_no_warning(script, tmp_path):
    assert shutil.which("shellcheck"), "shellcheck is missing: apt-get install shellcheck"
    path = tmp_path / "script.sh"
    path.write_text(script.text())
    # Excluded: SC2034 (the shared prelude sets variables not every step uses) and SC1090 (the sourced files
    # are the host's own secrets/env files, not there to follow).
    argv = ["shellcheck", "-S", "warning", "-e", "SC2034,SC1090", str(path)]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


# --- deploy and rollback, run for real against a scratch tree ---------------------------------------------------

class Host:
    """A scratch tree standing in for a host: every path of the config lives under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = stub_bin(root, STUBS)
        self.log = root / "calls.log"
        self.migrations = root / "migrations.log"
        self.bundles = root / "bundles"
        self.bundles.mkdir()
        etc = root / "etc"
        self.config = HostConfig.from_defaults(
            base_dir=str(root / "srv"),
            etc_dir=str(etc),
            log_dir=str(root / "log"),
            env_file=str(etc / "raindrop.env"),
            bin_dir=str(root / "bin"),
            keep_releases=3,
            health_attempts=2,
            health_interval_seconds=1,
            lock_wait_seconds=1,
            app_files=(HostFile(str(root / "conf" / "site.conf"), "site config\n"),),
        )
        env_file = HostFile(
            str(etc / "raindrop.env"),
            f"RAINDROP_DATABASE_URL=mysql+pymysql://raindrop:{SECRETS['db_password']}@127.0.0.1/raindrop\n",
            mode="600",
        )
        self.run(write_secrets(self.config, SECRETS, [env_file]))
        (root / "srv" / "shared" / "uploads").mkdir(parents=True)

    @property
    def current(self) -> Path:
        return self.root / "srv" / "current"

    def releases(self) -> list[str]:
        return sorted(p.name for p in (self.root / "srv" / "releases").iterdir())

    def run(self, script, check: bool = True) -> subprocess.CompletedProcess[str]:
        path = self.root / f"{script.name}.sh"
        path.write_text(script.text())
        env = {
            "PATH": f"{self.bin}:/usr/sbin:/usr/bin:/sbin:/bin",
            "STUB_LOG": str(self.log),
            "STUB_CURRENT": str(self.current),
            "RAINDROP_TEST_LOG": str(self.migrations),
            "HOME": str(self.root),
        }
        result = subprocess.run(["bash", str(path)], capture_output=True, text=True, env=env, check=False)
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def deploy(self, release, check: bool = True) -> subprocess.CompletedProcess[str]:
        bundle = Bundle(release.hash, release.deps_hash, release.sha256, remote_dir=str(self.bundles))
        shutil.copy(release.path, bundle.remote_path)
        self.log.write_text("")
        return self.run(deploy(self.config, bundle), check=check)


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """Four bundles: A and B healthy, C unhealthy (its client says so), D healthy; same dependencies."""
    fixture = Fixture(tmp_path_factory.mktemp("bundles"))
    built = {}
    for name in "ABCD":
        write_server_project(fixture.server, version_note=name)
        client = write_client_build(fixture.root / f"client-{name}")
        if name == "C":
            (client / "UNHEALTHY").write_text("yes\n")
        fixture.client = client
        built[name] = fixture.build(f"dist-{name}")
    return built


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    return Host(tmp_path_factory.mktemp("host"))


def logged(host: Host, stdout: str) -> list[str]:
    """The `log` lines of a run, without their timestamps, the scratch root written <root>."""
    return [line.split("] ", 1)[1].replace(str(host.root), "<root>")
            for line in stdout.splitlines() if line.startswith("==> [")]


def switched_and_healthy(host: Host, release: str, how: str) -> list[str]:
    """The log of a switch to `release` (under the scratch root): current moved, the app reloaded `how`, healthy."""
    return [f"current -> <root>/srv/releases/{release}", f"reloaded ({how})",
            f"healthy: {host.config.health_url}"]


# A restart of the one web process, then its own port's health check before anything else is stopped.
RESTART_OF_ONE_WEB_PROCESS = [
    "supervisorctl restart raindrop-web:raindrop-web-10000",
    "curl -fs -o /dev/null --max-time 5 http://127.0.0.1:10000/api/health",
]


def web_restart_calls(calls: str) -> list[str]:
    """The recorded calls that touch a web process or its port, in order."""
    return [line for line in calls.splitlines() if "raindrop-web-" in line or "127.0.0.1:10000" in line]


def note(host: Host) -> str:
    return (host.current / "lib" / "raindrop_server" / "__init__.py").read_text()


def test_first_deploy_builds_venv_migrates_and_goes_live(host, releases):
    result = host.deploy(releases["A"])
    release = host.current.resolve()
    # The phases as they ran, in order: a first deploy builds the venv, migrates and restarts (a new venv).
    assert logged(host, result.stdout) == [
        f"unpack <root>/bundles/raindrop-{releases['A'].hash}.tar.gz into <root>/srv/releases/{release.name}",
        f"venv <root>/srv/shared/venvs/{releases['A'].deps_hash} from the wheelhouse (no index)",
        "config files",
        "wrote <root>/etc/raindrop.env",
        "wrote <root>/conf/site.conf",
        "wrote <root>/bin/raindrop-rollback",
        "migrations",
        *switched_and_healthy(host, release.name, "restart"),
        f"release {release.name} is live",
    ]
    assert release.name.endswith(f"-{releases['A'].hash}")
    assert note(host) == 'NOTE = "A"\n'
    assert (release / "venv").resolve() == host.root / "srv" / "shared" / "venvs" / releases["A"].deps_hash
    assert (release / "uploads").resolve() == host.root / "srv" / "shared" / "uploads"
    assert (release / "static" / "app.css").is_file()
    assert (host.root / "conf" / "site.conf").read_text() == "site config\n"
    env_file = host.root / "etc" / "raindrop.env"
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    assert SECRETS["db_password"] in env_file.read_text()
    migrated = host.migrations.read_text()
    assert f"db upgrade user=root db=mysql+pymysql://raindrop:{SECRETS['db_password']}@" in migrated
    calls = host.log.read_text()
    # A new venv: a full restart, and the process answers on its own port before the next one is stopped.
    assert web_restart_calls(calls) == RESTART_OF_ONE_WEB_PROCESS
    assert "supervisorctl restart raindrop-celery:*" in calls
    assert "nginx -t -q" in calls
    assert (host.root / "bin" / "raindrop-rollback").stat().st_mode & 0o111


def test_same_bundle_again_changes_nothing(host, releases):
    before = host.releases()
    result = host.deploy(releases["A"])
    assert "nothing to do" in result.stdout
    assert host.releases() == before
    assert host.log.read_text() == ""


def test_second_release_reuses_the_venv_and_reloads_with_hup(host, releases):
    result = host.deploy(releases["B"])
    release = host.current.resolve().name
    # A code-only deploy: the venv reused, no migration, gunicorn HUPed.
    assert logged(host, result.stdout) == [
        f"unpack <root>/bundles/raindrop-{releases['B'].hash}.tar.gz into <root>/srv/releases/{release}",
        f"venv <root>/srv/shared/venvs/{releases['B'].deps_hash} reused: dependencies unchanged",
        "config files",
        "migrations unchanged since the live release: none to run",
        *switched_and_healthy(host, release, "hup"),
        f"release {release} is live",
    ]
    assert note(host) == 'NOTE = "B"\n'
    calls = host.log.read_text()
    assert "supervisorctl signal HUP raindrop-web:raindrop-web-10000" in calls
    assert "curl -fsS -o /dev/null --max-time 5" in calls
    assert len(host.releases()) == 2


def test_unhealthy_release_is_switched_back_and_fails_loudly(host, releases):
    result = host.deploy(releases["C"], check=False)
    assert result.returncode != 0
    assert "failed its health check; rolled back to" in result.stderr
    assert note(host) == 'NOTE = "B"\n'
    bad = [name for name in host.releases() if name.endswith(releases["C"].hash)]
    assert (host.root / "srv" / "releases" / bad[0] / "BAD_RELEASE").is_file()
    assert host.log.read_text().count("curl ") == 3  # two failed tries on C, one good on B


def test_rollback_goes_to_the_previous_good_release_and_marks_the_left_one(host, releases):
    before = host.current.resolve().name
    result = host.run(rollback(host.config))
    after = host.current.resolve().name
    assert logged(host, result.stdout) == [
        f"rolling back from {before} to {after}",
        *switched_and_healthy(host, after, "hup"),
        f"{after} is live",
    ]
    assert note(host) == 'NOTE = "A"\n'
    b_release = next(n for n in host.releases() if n.endswith(releases["B"].hash))
    assert (host.root / "srv" / "releases" / b_release / "BAD_RELEASE").is_file()
    # Back to B by name: its mark goes.
    host.run(rollback(host.config, b_release))
    assert note(host) == 'NOTE = "B"\n'
    assert not (host.root / "srv" / "releases" / b_release / "BAD_RELEASE").exists()


def test_installed_rollback_command_names_missing_releases(host):
    result = subprocess.run(
        ["bash", str(host.root / "bin" / "raindrop-rollback"), "20990101000000-nope"],
        capture_output=True,
        text=True,
        env={"PATH": f"{host.bin}:/usr/bin:/bin", "STUB_LOG": str(host.log), "STUB_CURRENT": str(host.current)},
        check=False,
    )
    assert result.returncode == 1
    assert "no release 20990101000000-nope" in result.stderr


def test_old_releases_and_their_bundles_are_cleaned_up(host, releases):
    host.deploy(releases["D"])
    names = host.releases()
    assert len(names) == 3
    assert not any(n.endswith(releases["A"].hash) for n in names)
    assert not (host.bundles / f"raindrop-{releases['A'].hash}.tar.gz").exists()
    assert note(host) == 'NOTE = "D"\n'


def test_a_held_lock_stops_a_second_deploy(host, releases):
    with (host.root / "srv" / ".deploy.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # what a running deploy's flock holds
        result = host.deploy(releases["B"], check=False)
    assert result.returncode == 1
    assert "another deploy holds" in result.stderr
    assert note(host) == 'NOTE = "D"\n'


def test_corrupt_upload_is_refused_before_anything_changes(host, releases):
    before = host.releases()
    bundle = Bundle(releases["B"].hash, releases["B"].deps_hash, "00" * 32, remote_dir=str(host.bundles))
    shutil.copy(releases["B"].path, bundle.remote_path)
    result = host.run(deploy(host.config, bundle), check=False)
    assert result.returncode == 1
    assert "does not match its sha256" in result.stderr
    assert host.releases() == before


def test_a_changed_env_file_redeploys_and_restarts_instead_of_hup(host, releases):
    env_file = HostFile(str(host.root / "etc" / "raindrop.env"), "RAINDROP_FEED_CACHE=0\n", mode="600")
    host.run(write_secrets(host.config, SECRETS, [env_file]))
    result = host.deploy(releases["D"])  # the live bundle: only the env file differs
    assert "nothing to do" not in result.stdout
    calls = host.log.read_text()
    assert "supervisorctl restart raindrop-web:raindrop-web-10000" in calls
    assert "signal HUP" not in calls
    assert (host.root / "etc" / "raindrop.env").read_text() == "RAINDROP_FEED_CACHE=0\n"


def test_a_changed_gunicorn_config_redeploys_and_restarts_instead_of_hup(host, releases):
    """A HUP would run the new gunicorn.conf.py's master-side part (gevent's patching, the preloaded libraries)
    inside a master that is already serving: a changed one restarts each process instead."""
    conf = host.root / "conf" / "gunicorn.conf.py"
    live = host.config
    host.config = dataclasses.replace(
        live, gunicorn_config_file=str(conf), app_files=(*live.app_files, HostFile(str(conf), "workers = 1\n"))
    )
    try:
        result = host.deploy(releases["D"])  # the live bundle: only gunicorn.conf.py differs
    finally:
        host.config = live
    assert "wrote <root>/conf/gunicorn.conf.py" in logged(host, result.stdout)
    assert "reloaded (restart)" in logged(host, result.stdout)
    calls = host.log.read_text()
    assert web_restart_calls(calls) == RESTART_OF_ONE_WEB_PROCESS
    assert "signal HUP" not in calls


def test_migrations_run_only_when_they_differ_from_the_live_release(tmp_path):
    from app.steps.deploy import MIGRATIONS_OF

    text = deploy(config(), BUNDLE).text()
    skip = text.index('[ "$(migrations_of "$RELEASE")" = "$(migrations_of "$CURRENT")" ]')
    assert skip < text.index("db upgrade") < text.index('switch_to "$RELEASE"')

    def release(name: str, scripts: dict[str, str]) -> Path:
        versions = tmp_path / name / "lib" / "raindrop_server" / "migrations" / "versions"
        versions.mkdir(parents=True)
        for file_name, body in scripts.items():
            (versions / file_name).write_text(body)
        return tmp_path / name

    a = release("a", {"0001_initial.py": "one"})
    b = release("b", {"0001_initial.py": "one"})
    c = release("c", {"0001_initial.py": "one", "0002_more.py": "two"})
    d = release("d", {"0001_initial.py": "changed"})
    (tmp_path / "e").mkdir()

    def digest(path: Path) -> str:
        script = f"set -euo pipefail\n{MIGRATIONS_OF}\nmigrations_of {path}\n"
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.strip()

    assert digest(a) == digest(b) != "none"
    assert len({digest(a), digest(c), digest(d)}) == 3
    assert digest(tmp_path / "e") == "none"


def test_provision_makes_systemd_restart_every_service_after_a_crash():
    text = provision(config()).text()
    for service in HostConfig.from_defaults().services:
        assert f"/etc/systemd/system/{service}.service.d/raindrop-restart.conf" in text
    assert "Restart=always" in text
    enable = text.index("log \"services enabled at boot and started\"")
    assert text.index("raindrop-restart.conf") < enable
    # apply_files reloads systemd as soon as it wrote a unit or drop-in, before any restart that needs it.
    reload_then_restart = (
        '    if [ "$WROTE" = yes ] && [[ "$dest" == /etc/systemd/* ]] && [ -d /run/systemd/system ]; then\n'
        "      systemctl daemon-reload\n"
        "    fi\n"
        '    if [ "$restart" != - ] && [ "$WROTE" = yes ]; then svc_restart "$restart"; fi\n'
    )
    assert reload_then_restart in text
