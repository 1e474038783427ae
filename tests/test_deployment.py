"""The deploy half of the Pulumi program under mocks: `raindrop:app:Deployment` and the asset publish."""

from __future__ import annotations

import base64
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass

import pytest
from pulumi_harness import ASSET, BUNDLE_PATH, Run, make_certificate, resolve, run_program

from app import release
from app.deployment import DIAL_ERROR_LIMIT, PER_DIAL_TIMEOUT_SECONDS, teardown_over_ssh

BUNDLE = release.open_release(BUNDLE_PATH)
STEPS = ("secrets", "provision", "bundle", "deploy", "teardown")


@pytest.fixture(scope="module", params=[False, True], ids=["up", "preview"])
def three_hosts(request: pytest.FixtureRequest) -> Run:
    return run_program({"instanceCount": 3}, preview=request.param)


def host_names(run: Run) -> list[str]:
    return [h.name for h in run.infra.server.hosts]


def test_every_host_gets_its_commands_in_order(three_hosts: Run) -> None:
    c = three_hosts.constructed
    names = host_names(three_hosts)
    assert names == ["raindrop-0", "raindrop-1", "raindrop-2"]
    for host in names:
        for step in STEPS:
            assert f"{host}-{step}" in c, f"{host}-{step}"
        # Each step waits for its instance and the step before it.
        assert host in c[f"{host}-secrets"].depends_on_names()
        assert {host, f"{host}-secrets"} <= c[f"{host}-provision"].depends_on_names()
        assert {host, f"{host}-provision"} <= c[f"{host}-bundle"].depends_on_names()
        assert {host, f"{host}-bundle", "raindrop-publish-assets"} <= c[f"{host}-deploy"].depends_on_names()
        assert {host, f"{host}-deploy"} <= c[f"{host}-teardown"].depends_on_names()
    # One host after another: each deploy (which ends in its health gate) waits for the previous host's.
    assert "raindrop-0-deploy" in c["raindrop-1-deploy"].depends_on_names()
    assert "raindrop-1-deploy" in c["raindrop-2-deploy"].depends_on_names()
    assert "raindrop-0-deploy" not in c["raindrop-0-deploy"].depends_on_names()


def test_connection_is_sized_for_an_ecs_boot(three_hosts: Run) -> None:
    for host in three_hosts.infra.server.hosts:
        connection = three_hosts.constructed[f"{host.name}-deploy"].props["connection"]
        assert resolve(connection.dial_error_limit)[0] == DIAL_ERROR_LIMIT
        assert resolve(connection.per_dial_timeout)[0] == PER_DIAL_TIMEOUT_SECONDS
        assert DIAL_ERROR_LIMIT * PER_DIAL_TIMEOUT_SECONDS >= 300
        assert resolve(connection.host)[0] == resolve(host.address)[0]
        assert resolve(connection.user)[0] == "root"
        assert resolve(connection.private_key)[1] is True


def test_triggers_carry_the_bundle_hash(three_hosts: Run) -> None:
    c = three_hosts.constructed
    for host in host_names(three_hosts):
        deploy_triggers = resolve(c[f"{host}-deploy"].props["triggers"])[0]
        assert deploy_triggers[0] == BUNDLE.hash
        assert resolve(c[f"{host}-bundle"].props["triggers"])[0] == [BUNDLE.hash]
        assert resolve(c[f"{host}-bundle"].props["remote_path"])[0] == f"/var/tmp/raindrop-{BUNDLE.hash}.tar.gz"
    assert resolve(c["raindrop-publish-assets"].props["triggers"])[0][0] == BUNDLE.hash


def test_no_command_input_holds_a_plaintext_secret(three_hosts: Run) -> None:
    s = three_hosts.infra.secrets
    secret_values = [resolve(o)[0] for o in (s.db_password, s.admin_password, s.redis_password, s.secret_key,
                                              s.ssh_private_key)]
    assert all(len(v) >= 16 for v in secret_values)
    checked = 0
    for resource in three_hosts.constructed.values():
        if not resource.type.startswith("command:"):
            continue
        for key, value in resource.props.items():
            if value is None:
                continue
            plain, is_secret = resolve(value)
            text = repr(plain)
            if key == "connection":
                assert resolve(value.private_key)[1] is True
                continue
            if any(secret in text for secret in secret_values):
                assert is_secret, f"{resource.name}.{key} holds a secret in the clear"
            checked += 1
    assert checked > 20
    # Only the secrets step carries the values, as a secret, with its output never logged.
    for host in host_names(three_hosts):
        secrets = three_hosts.constructed[f"{host}-secrets"].props
        text, is_secret = resolve(secrets["create"])
        assert is_secret and "DB_PASSWORD=" in text
        assert resolve(secrets["logging"])[0] == "none"
        for step in ("provision", "deploy"):
            script = resolve(three_hosts.constructed[f"{host}-{step}"].props["create"])[0]
            assert not any(secret in script for secret in secret_values), step


def test_assets_are_published_and_index_points_at_the_bucket() -> None:
    run = run_program()
    publish = run.constructed["raindrop-publish-assets"]
    command = resolve(publish.props["create"])[0]
    # The whole command: the deployer's keys, the interpreter running the program (not a guessed .venv path).
    assert command == (
        'RAINDROP_OSS_ACCESS_KEY_ID="${ALICLOUD_ACCESS_KEY:?set ALICLOUD_ACCESS_KEY}" '
        'RAINDROP_OSS_ACCESS_KEY_SECRET="${ALICLOUD_SECRET_KEY:?set ALICLOUD_SECRET_KEY}" '
        f"{shlex.quote(sys.executable)} -m app.publish --bundle {BUNDLE_PATH} "
        "--endpoint https://oss-cn-hangzhou.aliyuncs.com --bucket raindrop-dev-abcd1234 --prefix assets/"
    )
    deploy = resolve(run.constructed["raindrop-0-deploy"].props["create"])[0]
    assert f'src="https://raindrop-dev-abcd1234.oss-cn-hangzhou.aliyuncs.com/assets/{ASSET}"' in deploy
    assert 'cat > "$RELEASE/client/index.html"' in deploy


def test_cdn_domain_is_the_asset_base_when_enabled() -> None:
    run = run_program({"enableCdn": True, "cdnDomain": "static.example.com"})
    deploy = resolve(run.constructed["raindrop-0-deploy"].props["create"])[0]
    assert f'src="https://static.example.com/assets/{ASSET}"' in deploy


def test_unchanged_program_gives_unchanged_triggers() -> None:
    first, second = run_program(), run_program()
    for name in ("raindrop-0-provision", "raindrop-0-bundle", "raindrop-0-deploy", "raindrop-publish-assets"):
        assert resolve(first.constructed[name].props["triggers"])[0] == resolve(
            second.constructed[name].props["triggers"]
        )[0], name
    for name in ("raindrop-0-provision", "raindrop-0-deploy"):
        assert resolve(first.constructed[name].props["create"])[0] == resolve(
            second.constructed[name].props["create"]
        )[0]


def test_a_new_admin_port_redeploys() -> None:
    before, after = run_program(), run_program({"adminPort": 8443})
    trig = [resolve(r.constructed["raindrop-0-deploy"].props["triggers"])[0] for r in (before, after)]
    assert trig[0][0] == trig[1][0]  # same bundle
    assert trig[0][1] != trig[1][1]  # other rendered files


def test_release_archive_is_checked() -> None:
    from infra.stack_config import ConfigError

    bad = BUNDLE_PATH.parent / "raindrop-0000000000000000.tar.gz"
    bad.write_bytes(BUNDLE_PATH.read_bytes())
    with pytest.raises(ValueError, match=r"raindrop:releaseArchive: .*does not match its content hash"):
        run_program({"releaseArchive": str(bad)})
    with pytest.raises(ConfigError, match="raindrop:releaseArchive"):
        run_program({"releaseArchive": str(BUNDLE_PATH.parent / "missing.tar.gz")})


def test_without_release_archive_the_current_sources_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def build_release() -> release.Release:
        calls.append(1)
        return BUNDLE

    monkeypatch.setattr(release, "build_release", build_release)
    run = run_program({"releaseArchive": None})
    assert calls == [1]
    assert resolve(run.constructed["raindrop-0-bundle"].props["triggers"])[0] == [BUNDLE.hash]


def test_teardown_is_safe_when_the_host_is_gone(tmp_path) -> None:
    """The delete step really runs here: loopback port 1 refuses, ssh gives up (255) and the step succeeds."""
    script = teardown_over_ssh("echo never runs")
    result = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": "/usr/bin:/bin", "RAINDROP_HOST": "127.0.0.1", "RAINDROP_SSH_PORT": "1",
             "RAINDROP_SSH_USER": "root", "RAINDROP_SSH_KEY": "not a key", "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "unreachable or gone" in result.stdout


def test_teardown_fails_when_the_script_fails_on_a_live_host(tmp_path) -> None:
    """Only ssh's own 255 means "gone": a stand-in ssh that runs the script locally and fails must fail."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "ssh").write_text("#!/bin/bash\nexec bash -s\n")
    (fake_bin / "ssh").chmod(0o755)
    result = subprocess.run(
        ["bash", "-c", teardown_over_ssh("echo stopping; exit 3")],
        env={"PATH": f"{fake_bin}:/usr/bin:/bin", "RAINDROP_HOST": "203.0.113.9", "RAINDROP_SSH_USER": "root",
             "RAINDROP_SSH_KEY": "k", "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 3
    assert "stopping" in result.stdout


def test_scale_out_hosts_use_the_managed_services(three_hosts: Run) -> None:
    c = three_hosts.constructed
    secrets_script, is_secret = resolve(c["raindrop-1-secrets"].props["create"])
    assert is_secret
    # The env file (a secret file, staged by the secrets step) points at RDS, KVStore and the bucket.
    assert "@rm-raindrop.mysql.rds.aliyuncs.com:3306/raindrop" in secrets_script
    assert "@r-raindrop.redis.rds.aliyuncs.com:6379/" in secrets_script
    assert "RAINDROP_OSS_BUCKET=raindrop-dev-abcd1234" in secrets_script
    assert "RAINDROP_OSS_ENDPOINT=https://oss-cn-hangzhou-internal.aliyuncs.com" in secrets_script
    assert "generated-access-key-secret" in secrets_script
    provision_script = resolve(c["raindrop-1-provision"].props["create"])[0]
    (packages,) = [line for line in provision_script.splitlines() if line.startswith("for package in ")]
    assert "nginx" in packages and "mariadb-server" not in packages and "redis-server" not in packages
    assert "a managed service (raindrop_db_host)" in provision_script
    assert "/etc/mysql/" not in provision_script and "/etc/redis/" not in provision_script
    assert "generated-access-key-secret" not in resolve(c["raindrop-1-deploy"].props["create"])[0]


def test_single_host_runs_its_own_database_and_redis() -> None:
    run = run_program()
    provision_script = resolve(run.constructed["raindrop-0-provision"].props["create"])[0]
    (packages,) = [line for line in provision_script.splitlines() if line.startswith("for package in ")]
    assert "mariadb-server" in packages and "redis-server" in packages
    assert "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket;" in provision_script
    secrets_script = resolve(run.constructed["raindrop-0-secrets"].props["create"])[0]
    assert "@127.0.0.1:3306/raindrop" in secrets_script
    assert "RAINDROP_OSS_BUCKET" not in secrets_script


# --- raindrop:hosts: the same Deployment on servers that already exist ----------------------------------------

DEPLOY_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nexisting hosts\n-----END OPENSSH PRIVATE KEY-----\n"
DB_PASSWORD = "db-from-config-0001"
HOSTS = {
    "hosts": [{"address": "203.0.113.5"}, {"address": "web2.example.com", "user": "deploy", "port": 2222}],
    "sshPrivateKey": DEPLOY_KEY,
    "dbPassword": DB_PASSWORD,
}
HOST_NAMES = ["host-203.0.113.5", "host-web2.example.com"]


@pytest.fixture(scope="module", params=[False, True], ids=["up", "preview"])
def existing(request: pytest.FixtureRequest) -> Run:
    return run_program(HOSTS, preview=request.param)


def test_existing_hosts_get_one_set_of_commands_each_host_after_host(existing: Run) -> None:
    c = existing.constructed
    assert [h.name for h in existing.infra.hosts] == HOST_NAMES
    assert sorted(r.name for r in c.values() if r.type.startswith("command:")) == sorted(
        f"{host}-{step}" for host in HOST_NAMES for step in STEPS
    )
    first, second = HOST_NAMES
    for host in HOST_NAMES:
        # Nothing in the stack creates these hosts, so the steps wait only for each other (and no asset upload).
        assert c[f"{host}-secrets"].depends_on_names() == set()
        assert c[f"{host}-provision"].depends_on_names() == {f"{host}-secrets"}
        assert c[f"{host}-bundle"].depends_on_names() == {f"{host}-provision"}
        assert c[f"{host}-teardown"].depends_on_names() == {f"{host}-deploy"}
    assert c[f"{first}-deploy"].depends_on_names() == {f"{first}-bundle"}
    # The second host's deploy waits for the first's, which ends in its health gate.
    assert c[f"{second}-deploy"].depends_on_names() == {f"{second}-bundle", f"{first}-deploy"}


def test_existing_hosts_connect_with_their_own_user_port_and_the_given_key(existing: Run) -> None:
    want = {"host-203.0.113.5": ("203.0.113.5", 22, "root"), "host-web2.example.com": ("web2.example.com", 2222,
                                                                                     "deploy")}
    for host, (address, port, user) in want.items():
        for step in ("secrets", "provision", "bundle", "deploy"):
            connection = existing.constructed[f"{host}-{step}"].props["connection"]
            assert (resolve(connection.host)[0], resolve(connection.port)[0], resolve(connection.user)[0]) == (
                address, port, user
            )
            assert resolve(connection.private_key) == (DEPLOY_KEY, True)
        teardown = existing.constructed[f"{host}-teardown"].props["environment"]
        assert {k: resolve(v)[0] for k, v in teardown.items()} == {
            "RAINDROP_HOST": address, "RAINDROP_SSH_USER": user, "RAINDROP_SSH_PORT": str(port),
            "RAINDROP_SSH_KEY": DEPLOY_KEY,
        }
        assert resolve(teardown["RAINDROP_SSH_KEY"])[1] is True


def test_a_non_root_user_runs_every_step_through_sudo(existing: Run) -> None:
    c = existing.constructed
    for step in ("provision", "deploy"):
        as_root = resolve(c[f"host-203.0.113.5-{step}"].props["create"])[0]
        through_sudo = resolve(c[f"host-web2.example.com-{step}"].props["create"])[0]
        assert as_root.startswith("#!/bin/bash\nset -euo pipefail\n")
        encoded = base64.b64encode(as_root.encode()).decode()
        assert through_sudo == f"echo {encoded} | base64 -d | sudo -n bash -s\n"
    root_teardown = resolve(c["host-203.0.113.5-teardown"].props["delete"])[0]
    sudo_teardown = resolve(c["host-web2.example.com-teardown"].props["delete"])[0]
    assert sudo_teardown == root_teardown.replace('"$RAINDROP_SSH_USER@$RAINDROP_HOST" bash -s\n',
                                                  '"$RAINDROP_SSH_USER@$RAINDROP_HOST" sudo -n bash -s\n')
    assert sudo_teardown != root_teardown


def test_existing_hosts_serve_the_bundles_own_assets(existing: Run) -> None:
    deploy = resolve(existing.constructed["host-203.0.113.5-deploy"].props["create"])[0]
    assert 'cat > "$RELEASE/client/index.html"' not in deploy
    # Not inside a word: the Referrer-Policy's "strict-origin-when-cross-origin" is not an OSS reference.
    assert re.search(r"(?<![a-z])oss", deploy.lower()) is None


def test_existing_hosts_secrets_only_in_the_secret_step_and_generated_ones_never_in_pulumi(existing: Run) -> None:
    checked = 0
    for resource in existing.constructed.values():
        if not resource.type.startswith("command:"):
            continue
        for key, value in resource.props.items():
            if value is None or key == "connection":
                continue
            plain, is_secret = resolve(value)
            if DB_PASSWORD in repr(plain) or "existing hosts" in repr(plain):
                assert is_secret, f"{resource.name}.{key} holds a secret in the clear"
                assert resource.name.endswith(("-secrets", "-teardown")), resource.name
            checked += 1
    assert checked >= 16
    texts = []
    for host in HOST_NAMES:
        secrets = existing.constructed[f"{host}-secrets"].props
        text, is_secret = resolve(secrets["create"])
        assert is_secret and resolve(secrets["logging"])[0] == "none"
        texts.append(text)
        for step in ("provision", "deploy"):
            assert DB_PASSWORD not in resolve(existing.constructed[f"{host}-{step}"].props["create"])[0]
    as_root, through_sudo = texts
    assert through_sudo == f"echo {base64.b64encode(as_root.encode()).decode()} | base64 -d | sudo -n bash -s\n"
    assert "cat > \"$tmp\" <<'RAINDROP_EOF'\nDB_PASSWORD=db-from-config-0001\nRAINDROP_EOF\n" in as_root
    # The rest the host makes: Pulumi only ever holds placeholders for them.
    for name in ("redis_password", "admin_password", "secret_key"):
        assert f"raindrop-generated-on-host-{name}" in as_root


def test_existing_hosts_secret_step_generates_what_the_config_leaves_out() -> None:
    every = run_program({**HOSTS, "adminPassword": "admin-from-config-01", "redisPassword": "redis-from-config-01"})
    text = resolve(every.constructed["host-203.0.113.5-secrets"].props["create"])[0]
    assert (
        "cat > \"$tmp\" <<'RAINDROP_EOF'\nDB_PASSWORD=db-from-config-0001\nREDIS_PASSWORD=redis-from-config-01\n"
        "ADMIN_PASSWORD=admin-from-config-01\nRAINDROP_EOF\n"
    ) in text
    assert "grep -E '^(SECRET_KEY)=' /etc/raindrop/generated.env" in text
    assert "raindrop-generated-on-host-admin_password" not in text
    assert "raindrop-generated-on-host-secret_key" in text


def test_removing_a_host_keeps_the_other_hosts_names() -> None:
    """Names come from addresses: dropping the first host deletes only its commands (its teardown runs)."""
    both = run_program(HOSTS)
    second_only = run_program({**HOSTS, "hosts": HOSTS["hosts"][1:]})
    kept = {n for n in second_only.constructed if n.startswith("host-")}
    assert kept == {n for n in both.constructed if n.startswith("host-web2.example.com-")}


def test_teardown_uses_the_hosts_port_and_sudo(tmp_path) -> None:
    """A stand-in ssh records its arguments and stdin: the port and the remote shell are the host's."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "ssh").write_text(f'#!/bin/bash\nprintf "%s\\n" "$@" > {tmp_path}/argv\ncat > {tmp_path}/stdin\n')
    (fake_bin / "ssh").chmod(0o755)
    result = subprocess.run(
        ["bash", "-c", teardown_over_ssh("echo stopping", sudo=True)],
        env={"PATH": f"{fake_bin}:/usr/bin:/bin", "RAINDROP_HOST": "203.0.113.9", "RAINDROP_SSH_USER": "deploy",
             "RAINDROP_SSH_PORT": "2222", "RAINDROP_SSH_KEY": "k", "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[0] == "-i" and argv[1].startswith("/tmp/")
    assert argv[2:] == ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "StrictHostKeyChecking=no", "-o",
                        "UserKnownHostsFile=/dev/null", "-p", "2222", "deploy@203.0.113.9", "sudo", "-n", "bash",
                        "-s"]
    assert (tmp_path / "stdin").read_text() == "echo stopping"


def test_single_host_backs_up_to_the_bucket_with_its_role_and_scale_out_does_not() -> None:
    run = run_program({"backupTime": "04:15"})
    provision_script = resolve(run.constructed["raindrop-0-provision"].props["create"])[0]
    conf = provision_script.split("/etc/raindrop/backup.conf")[0].rsplit("<<'RAINDROP_EOF'\n", 1)[1]
    settings = [line for line in conf.splitlines() if line.startswith("OSS_")]
    assert settings == [
        "OSS_ENDPOINT=https://oss-cn-hangzhou-internal.aliyuncs.com",
        "OSS_BUCKET=raindrop-dev-abcd1234",
        "OSS_PREFIX=backups/",
        "OSS_RAM_ROLE=raindrop-backups-role",
    ]
    assert "OnCalendar=*-*-* 04:15:00 UTC" in provision_script
    assert "timer_enable raindrop-backup.timer" in provision_script
    # No key travels for it: the role's temporary credentials come from the instance's metadata service.
    secrets_script = resolve(run.constructed["raindrop-0-secrets"].props["create"])[0]
    assert "backup" not in secrets_script.lower()
    deploy = run.constructed["raindrop-0-deploy"]
    assert "raindrop-backups-attach-0" in deploy.depends_on_names()  # the role is on before it backs up


def test_scale_out_hosts_take_no_local_backups(three_hosts: Run) -> None:
    provision_script = resolve(three_hosts.constructed["raindrop-1-provision"].props["create"])[0]
    assert "raindrop-backup.timer" not in provision_script.replace('log "backup timer: none here', "")
    assert "LOCAL_DB=no" in provision_script
    deploy_script = resolve(three_hosts.constructed["raindrop-1-deploy"].props["create"])[0]
    assert "no pre-migration dump here" in deploy_script


# --- TLS: what the cloud half tells the hosts (the template variables and secrets of issue #14) -------------

SITE = "raindrop.example.com"
CERT = make_certificate(SITE)
PROVIDED = {"siteDomain": SITE, "tlsCertificate": CERT.certificate, "tlsPrivateKey": CERT.private_key}
STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
BASE_VALUES = {"raindrop_admin_user": "admin", "raindrop_admin_port": 8090, "raindrop_admin_cidrs": ["198.51.100.0/24"],
               "raindrop_gunicorn_processes": 2}


def tls(mode: str, domain: str = "", email: str = "", directory: str = PRODUCTION) -> dict:
    return {"raindrop_tls": mode, "raindrop_site_domain": domain, "raindrop_acme_email": email,
            "raindrop_acme_directory": directory, "raindrop_https_port": 443}


@dataclass
class Recorded:
    template_values: dict
    secrets: dict


def run_recorded(overrides: dict, monkeypatch: pytest.MonkeyPatch) -> Recorded:
    """The program with hosts that take the TLS variables, and the Deployment's arguments as the cloud half
    made them (the host half renders and checks them; it is not what this tests)."""
    from app import cloud

    args: list = []
    monkeypatch.setattr(cloud, "Deployment", lambda name, deployment_args: args.append(deployment_args))
    run_program(overrides)
    (deployment_args,) = args
    secrets = {name: resolve(value) for name, value in deployment_args.secrets.items()}
    return Recorded(resolve(deployment_args.template_values)[0], secrets)


TLS_MODES = [
    ({}, tls("none")),
    ({"siteDomain": SITE}, tls("acme", SITE)),
    ({"siteDomain": SITE, "acmeEmail": "ops@example.com", "acmeDirectory": STAGING},
     tls("acme", SITE, "ops@example.com", STAGING)),
    (PROVIDED, tls("provided", SITE)),
    ({"instanceCount": 2}, tls("none")),
    ({**PROVIDED, "instanceCount": 2}, tls("offloaded", SITE)),
    ({"instanceCount": 2, "siteDomain": SITE, "tlsCertificateId": "12345678"}, tls("offloaded", SITE)),
    ({**HOSTS, "siteDomain": SITE}, tls("acme", SITE)),
    ({**HOSTS, **PROVIDED}, tls("provided", SITE)),
]


@pytest.mark.parametrize(("overrides", "want"), TLS_MODES, ids=[f"{w['raindrop_tls']}-{i}" for i, (_, w) in
                                                                enumerate(TLS_MODES)])
def test_tls_template_values_per_mode(overrides: dict, want: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.cloud import tls_values

    recorded = run_recorded(overrides, monkeypatch)
    assert {k: v for k, v in recorded.template_values.items() if k in want} == want
    assert tls_values(run_program(overrides).infra.config) == want


def test_one_host_template_values_whole_with_acme(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = run_recorded({"siteDomain": SITE, "acmeEmail": "ops@example.com"}, monkeypatch)
    assert recorded.template_values == {
        **BASE_VALUES, **tls("acme", SITE, "ops@example.com"),
        "raindrop_backup_oss_endpoint": "https://oss-cn-hangzhou-internal.aliyuncs.com",
        "raindrop_backup_oss_bucket": "raindrop-dev-abcd1234", "raindrop_backup_oss_prefix": "backups/",
        "raindrop_backup_oss_ram_role": "raindrop-backups-role",
        # The hashed assets are the bucket's: the site's CSP allows that origin (render keeps only the origin).
        "raindrop_csp_asset_origin": "https://raindrop-dev-abcd1234.oss-cn-hangzhou.aliyuncs.com/assets/",
    }
    # ACME makes its key on the host: no certificate secret travels.
    assert set(recorded.secrets) == {"db_password", "redis_password", "admin_password", "secret_key"}


def test_the_csp_allows_the_cdn_that_serves_the_assets(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = run_recorded({"enableCdn": True, "cdnDomain": "static.example.com"}, monkeypatch)
    assert recorded.template_values["raindrop_csp_asset_origin"] == "https://static.example.com/assets/"


def test_existing_hosts_have_no_asset_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hosts mode has no bucket: nginx serves the assets from the site itself, the CSP's 'self'."""
    assert "raindrop_csp_asset_origin" not in run_recorded(HOSTS, monkeypatch).template_values


def test_a_provided_certificate_reaches_one_host_as_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = run_recorded(PROVIDED, monkeypatch)
    assert set(recorded.secrets) == {"db_password", "redis_password", "admin_password", "secret_key",
                                     "tls_certificate", "tls_private_key"}
    assert recorded.secrets["tls_certificate"] == (CERT.certificate, True)
    assert recorded.secrets["tls_private_key"] == (CERT.private_key, True)
    assert "-----BEGIN" not in repr(recorded.template_values)


def test_existing_hosts_get_the_provided_certificate_as_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = run_recorded({**HOSTS, **PROVIDED}, monkeypatch)
    assert recorded.secrets == {"db_password": (DB_PASSWORD, True), "tls_certificate": (CERT.certificate, True),
                                "tls_private_key": (CERT.private_key, True)}


def test_scale_out_hosts_get_no_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    """TLS ends at the CLB, which holds the certificate; the hosts serve http behind it."""
    recorded = run_recorded({**PROVIDED, "instanceCount": 2}, monkeypatch)
    assert set(recorded.secrets) == {"db_password", "redis_password", "admin_password", "secret_key",
                                     "oss_access_key_secret"}
    assert recorded.template_values["raindrop_tls"] == "offloaded"
