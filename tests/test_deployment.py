"""The deploy half of the Pulumi program under mocks: `raindrop:app:Deployment` and the asset publish."""

from __future__ import annotations

import subprocess

import pytest
from pulumi_harness import ASSET, BUNDLE_PATH, Run, resolve, run_program

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
    assert f"--bundle {BUNDLE_PATH}" in command
    assert "--bucket raindrop-dev-abcd1234" in command
    assert "--prefix assets/" in command
    assert "ALICLOUD_ACCESS_KEY" in command and "ALICLOUD_SECRET_KEY" in command
    deploy = resolve(run.constructed["raindrop-0-deploy"].props["create"])[0]
    assert f'src="https://raindrop-dev-abcd1234.oss-cn-hangzhou.aliyuncs.com/assets/{ASSET}"' in deploy
    assert 'cat > "$RELEASE/client/index.html"' in deploy


def test_cdn_domain_is_the_asset_base_when_enabled() -> None:
    run = run_program({"enableCdn": True, "cdnDomain": "static.example.com"})
    deploy = resolve(run.constructed["raindrop-0-deploy"].props["create"])[0]
    assert f'src="http://static.example.com/assets/{ASSET}"' in deploy


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
    from infra.config import ConfigError

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
