"""The sandbox host and the SSH executor, against a real debootstrap'd host in its own network namespace.

Needs root, debootstrap, tinyproxy and iproute2. Network traffic goes only to the sandbox's address and,
through the sandbox's proxy, to the Debian mirror for apt.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import pytest

from app.executor import ScriptFailed, SshExecutor, wait_for_port
from app.sandbox import network, proxy
from app.sandbox.host import HOST_NOFILE_LIMIT, NSPAWN_RUN_DIRS, Sandbox
from app.sandbox.mirror import find_mirror
from app.sandbox.settings import SandboxSettings
from app.sandbox.system import SandboxError
from app.steps.script import Script

if os.geteuid() != 0:  # a failure, not a skip: a suite that silently did nothing would read as passing
    pytest.fail("the sandbox tests need root (network namespaces, systemd-nspawn)", pytrace=False)

# RAINDROP_TEST_SANDBOX_PREFIX / _NET put a second run (another checkout) on hosts of its own.
_PREFIX = os.environ.get("RAINDROP_TEST_SANDBOX_PREFIX", "rd")
_NET = os.environ.get("RAINDROP_TEST_SANDBOX_NET", "10.213")
TEST_NAME, TEST_SUBNET = f"{_PREFIX}test", f"{_NET}.2.0/30"
SPARE_NAME, SPARE_SUBNET = f"{_PREFIX}spare", f"{_NET}.3.0/30"


@pytest.fixture(scope="session")
def sandbox():
    host = Sandbox(SandboxSettings(name=TEST_NAME, subnet=TEST_SUBNET), log=lambda _message: None)
    host.up_host(fresh=True)
    yield host
    host.down()


@pytest.fixture
def lines():
    return []


@pytest.fixture
def ssh(sandbox, lines):
    with SshExecutor(sandbox.target(), echo=lines.append) as executor:
        yield executor


def can_raise_limits() -> bool:
    """Whether this process holds CAP_SYS_RESOURCE (bit 24 of its effective capabilities)."""
    effective = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("CapEff"))
    return bool(int(effective.split()[1], 16) >> 24 & 1)


def assert_gone(host: Sandbox) -> None:
    settings = host.settings
    assert host.power_pid() is None
    assert not any((parent / settings.hostname).exists() for parent in NSPAWN_RUN_DIRS)
    assert host._nspawn_leftovers() == []
    assert host.cgroup_dirs() == []
    assert not settings.directory.exists()
    assert not network.netns_exists(settings)
    assert not network.veth_exists(settings)
    assert proxy.running_pid(settings) is None
    assert host.mounts() == []
    assert host.processes() == set()
    assert not host.running


# -- settings -------------------------------------------------------------------------------------------
def test_settings_derive_addresses_and_names():
    settings = SandboxSettings(name="ci", subnet="10.213.7.0/30")
    assert (settings.host_address, settings.address) == ("10.213.7.1", "10.213.7.2")
    assert settings.proxy_url == "http://10.213.7.1:8888"
    assert settings.root == Path("/var/lib/raindrop-sandbox/ci/root")
    assert len(settings.veth_host) <= 15


@pytest.mark.parametrize("name", ["", "UPPER", "way-too-long-name", "1abc", "a b"])
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError, match="sandbox name"):
        SandboxSettings(name=name)


@pytest.mark.parametrize("subnet", ["10.213.1.0/24", "8.8.8.0/30", "10.213.1.1/30", "fd00::/126"])
def test_bad_subnets_are_refused(subnet):
    with pytest.raises(ValueError, match="subnet"):
        SandboxSettings(subnet=subnet)


def test_mirror_read_from_deb822_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("RAINDROP_SANDBOX_MIRROR", raising=False)
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n"
    )
    mirror = find_mirror(sources)
    assert (mirror.archive, mirror.security) == (
        "http://mirror.example/debian",
        "http://security.example/debian-security",
    )
    assert "Suites: bookworm-security" in mirror.sources()


def test_mirror_from_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("RAINDROP_SANDBOX_MIRROR", "http://mirror.example/debian/")
    mirror = find_mirror(tmp_path / "absent.sources")
    assert (mirror.archive, mirror.security) == (
        "http://mirror.example/debian",
        "http://mirror.example/debian-security",
    )


def test_missing_sources_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("RAINDROP_SANDBOX_MIRROR", raising=False)
    with pytest.raises(SandboxError, match="RAINDROP_SANDBOX_MIRROR"):
        find_mirror(tmp_path / "absent.sources")


def test_a_bundle_path_is_read_through_open_release_which_checks_its_hash(tmp_path, monkeypatch):
    """`up --bundle` reads the bundle the one way the Pulumi program does: a renamed or altered one is refused."""
    from app import release as release_module
    from app.sandbox import deploy as sandbox_deploy

    bundle = tmp_path / "raindrop-0123456789abcdef.tar.gz"
    (tmp_path / "DEPS_HASH").write_text("fedcba9876543210\n")
    (tmp_path / "BUNDLE.json").write_text("{}\n")
    subprocess.run(["tar", "-czf", str(bundle), "-C", str(tmp_path), "DEPS_HASH", "BUNDLE.json"], check=True)
    # refused before the host is touched (no sandbox is needed to get this far)
    with pytest.raises(release_module.ReleaseError, match="does not match its content hash"):
        sandbox_deploy.deploy(None, bundle=bundle)  # type: ignore[arg-type]
    assert not hasattr(sandbox_deploy, "release_from_path")
    with pytest.raises(release_module.ReleaseError, match="does not exist"):
        release_module.open_release(tmp_path / "something-else.tar.gz")


# -- the host and the executor ------------------------------------------------------------------------
def test_script_runs_as_root_on_the_sandbox(ssh, sandbox, lines):
    result = ssh.run(Script("whoami", 'id -u\nhostname\n. /etc/os-release && echo "$VERSION_ID"\npython3 -V'))
    assert result.exit_code == 0
    assert result.stdout.split()[:3] == ["0", sandbox.settings.hostname, "12"]
    assert result.stdout.split()[3] == "Python"
    # Progress names the script and streams its output lines.
    assert lines[0].startswith("--> whoami")
    assert any(line.endswith(f"[whoami] {sandbox.settings.hostname}") for line in lines)


def test_failing_script_raises_with_its_name_and_tail(ssh):
    script = Script("breaks-on-purpose", "echo step one\necho 'bad thing happened' >&2\nfalse\necho never")
    with pytest.raises(ScriptFailed, match="breaks-on-purpose") as failure:
        ssh.run(script)
    assert failure.value.result.exit_code == 1
    assert "bad thing happened" in str(failure.value)
    assert "never" not in failure.value.result.stdout


def test_unchecked_failure_returns_the_exit_code(ssh):
    assert ssh.run(Script("exit-3", "exit 3"), check=False).exit_code == 3


def test_secret_script_output_is_never_echoed(ssh, lines):
    script = Script("secret-step", "echo hunter2-password\nexit 4", secret=True)
    with pytest.raises(ScriptFailed, match="secret-step") as failure:
        ssh.run(script)
    assert "hunter2" not in str(failure.value)
    assert not any("hunter2" in line for line in lines)
    assert failure.value.result.exit_code == 4


def test_commands_reading_stdin_do_not_swallow_the_script(ssh):
    result = ssh.run(Script("reads-stdin", "cat\nread -r line || true\necho still-running"))
    assert result.stdout.strip() == "still-running"


def test_a_daemon_holding_stdout_does_not_block_the_run(ssh):
    result = ssh.run(Script("starts-daemon", "sleep 300 &\necho started"))
    assert result.stdout.strip() == "started"
    ssh.run(Script("stop-daemon", "pkill -x sleep || true"))


def test_a_hung_script_times_out_with_its_name(sandbox):
    with SshExecutor(sandbox.target(), echo=lambda _line: None, script_timeout=2) as executor:
        with pytest.raises(ScriptFailed, match="hangs-on-purpose") as failure:
            executor.run(Script("hangs-on-purpose", "echo waiting\nsleep 30"))
        assert failure.value.result.exit_code == 124
        assert "hung up" in str(failure.value)
        # The connection stays usable for the next script.
        assert executor.run(Script("after-timeout", "echo fine")).stdout.strip() == "fine"


def test_put_uploads_a_file(ssh, tmp_path):
    local = tmp_path / "bundle.bin"
    local.write_bytes(os.urandom(3 * 1024 * 1024))
    ssh.put(local, "/var/tmp/upload-test/nested/bundle.bin", mode=0o600)
    check = "cd /var/tmp/upload-test/nested && sha256sum bundle.bin && stat -c %a bundle.bin && ls"
    result = ssh.run(Script("check-upload", check))
    digest, _name, mode, listing = result.stdout.split()
    assert digest == hashlib.sha256(local.read_bytes()).hexdigest()
    assert (mode, listing) == ("600", "bundle.bin")


def test_put_of_a_missing_file_names_it(ssh, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        ssh.put(tmp_path / "nothing-here", "/var/tmp/x")


def test_host_key_is_pinned(sandbox, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "impostor")], check=True)
    kind, blob = (tmp_path / "impostor.pub").read_text().split()[:2]
    other = tmp_path / "known_hosts"
    other.write_text(f"{sandbox.settings.address} {kind} {blob}\n")
    target = sandbox.target()
    pinned_wrong = type(target)(host=target.host, key_path=target.key_path, known_hosts=other)
    with pytest.raises(paramiko.BadHostKeyException):
        SshExecutor(pinned_wrong, echo=lambda _line: None, connect_attempts=1).connect()


def test_apt_works_through_the_proxy(ssh):
    result = ssh.run(Script("apt-update", "apt-get update -q\napt-cache policy nginx"))
    assert "Candidate:" in result.stdout


def test_proxy_refuses_other_hosts(ssh, sandbox):
    # .invalid never resolves (RFC 2606): the request stops at the proxy's filter, nothing leaves.
    result = ssh.run(
        Script(
            "proxy-filter",
            f"curl -s -o /dev/null -w '%{{http_code}}' -x {sandbox.settings.proxy_url} http://example.invalid/",
        ),
        check=False,
    )
    assert result.stdout.strip() == "403"


def test_sandbox_has_no_route_out(ssh, sandbox):
    result = ssh.run(Script("route-out", "ip route get 192.0.2.1"), check=False)
    assert result.exit_code != 0
    assert "unreachable" in result.stderr
    assert ssh.run(Script("route-host", f"ip route get {sandbox.settings.host_address}")).exit_code == 0


def test_status_reports_the_running_host(sandbox):
    status = sandbox.status()
    assert status["exists"] and status["running"] and status["netns"] and status["proxy"] and status["sshd"]
    assert status["address"] == sandbox.settings.address
    assert status["system"] == "running", sandbox.failed_units()


def test_host_boots_systemd_as_pid_1_and_sees_only_its_own_processes(ssh, sandbox):
    result = ssh.run(Script("ps", "ps -e -o pid=,comm=\necho ---\nsystemctl is-system-running"))
    table, state = result.stdout.split("---")
    pids = {int(line.split()[0]): line.split()[1] for line in table.splitlines() if line.strip()}
    assert pids[1] == "systemd"
    assert state.strip() == "running"
    assert "sshd" in pids.values()
    # The machine runs far more than this; none of it is visible (or killable) from inside.
    assert len(pids) < 30
    inside = {entry["pid"] for entry in sandbox.process_table()}
    assert sandbox.init_pid() in inside
    # systemd gets the hard limit of open files an ECS kernel gives it, or this machine's when the machine
    # may not raise it (no CAP_SYS_RESOURCE): what every service inside is bounded by.
    machine_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    expected = str(HOST_NOFILE_LIMIT if can_raise_limits() else min(HOST_NOFILE_LIMIT, machine_hard))
    limits = Path(f"/proc/{sandbox.init_pid()}/limits").read_text().splitlines()
    assert next(row for row in limits if row.startswith("Max open files")).split()[3:5] == [expected, expected]
    # Outside the host's namespaces only its power loop and systemd-nspawn run.
    outside = sandbox.processes() - inside
    assert {Path(f"/proc/{pid}/comm").read_text().strip() for pid in outside} == {"bash", "systemd-nspawn"}


def test_host_has_a_cgroup_of_its_own(sandbox):
    # Two hosts' systemd must never share a cgroup: each would see, and fail to kill, the other's processes.
    expected = f"/raindrop-sandbox/{sandbox.settings.name}/payload/init.scope"
    paths = {}
    for line in Path(f"/proc/{sandbox.init_pid()}/cgroup").read_text().splitlines():
        _number, controllers, path = line.split(":", 2)
        paths[controllers] = path
    assert (paths[""], paths["name=systemd"]) == (expected, expected)


def test_crash_then_boot_brings_enabled_services_back(sandbox):
    sandbox.crash()
    assert not sandbox.running
    assert sandbox.processes() == set()
    started = sandbox.boot()
    assert {"ssh", "cron"} <= set(started)
    with SshExecutor(sandbox.target(), echo=lambda _line: None) as executor:
        result = executor.run(Script("after-boot", "pgrep -x cron >/dev/null && echo cron-up; ls /run"))
    assert result.stdout.split()[0] == "cron-up"
    assert "nologin" not in result.stdout.split()


def test_reboot_inside_the_host_comes_back_by_itself(sandbox):
    before = sandbox.init_pid()
    with SshExecutor(sandbox.target(), echo=lambda _line: None) as executor:
        # As a user would: systemd shuts down, nspawn exits 133, and the power loop boots the host again.
        executor.run(Script("reboot", "systemctl reboot"), check=False)
    deadline = time.monotonic() + 120
    while sandbox.init_pid() in (before, None) or sandbox.system_state() != "running":
        assert time.monotonic() < deadline, f"not back from reboot: {sandbox.status()}"
        time.sleep(0.2)
    assert "=== systemd-nspawn exited 133" in sandbox.console_log.read_text()
    wait_for_port(sandbox.settings.address, 22, timeout=30)
    with SshExecutor(sandbox.target(), echo=lambda _line: None) as executor:
        result = executor.run(Script("after-reboot", "systemctl is-active ssh cron"))
    assert result.stdout.split() == ["active", "active"]


def test_up_twice_reuses_the_host(sandbox):
    key_before = sandbox.settings.key_path.read_text()
    sandbox.up_host()
    assert sandbox.settings.key_path.read_text() == key_before
    assert sandbox.status()["sshd"]


# -- down and failure clean-up -----------------------------------------------------------------------------
def test_failed_up_leaves_nothing(sandbox):
    # The spare host asks for the test host's subnet: creation fails at the network, after the root is made.
    clash = Sandbox(SandboxSettings(name=SPARE_NAME, subnet=TEST_SUBNET), log=lambda _message: None)
    with pytest.raises(SandboxError, match="already in use"):
        clash.up_host(fresh=True)
    assert_gone(clash)


def test_down_removes_everything_and_is_idempotent():
    spare = Sandbox(SandboxSettings(name=SPARE_NAME, subnet=SPARE_SUBNET), log=lambda _message: None)
    spare.up_host(fresh=True)
    assert spare.status()["sshd"]
    spare.down()
    assert_gone(spare)
    spare.down()
    assert_gone(spare)


def test_deploy_names_missing_steps(sandbox, monkeypatch):
    from app.sandbox import deploy as sandbox_deploy

    monkeypatch.setattr(sandbox_deploy, "REQUIRED_MODULES", ("app.steps", "app.steps.not_written_yet"))
    with pytest.raises(sandbox_deploy.DeployStepsMissing, match=r"app\.steps\.not_written_yet"):
        sandbox_deploy.deploy(sandbox)


def test_cli_up_host_only_prints_connection_json_last(sandbox):
    completed = subprocess.run(
        [sys.executable, "-m", "app.sandbox", "up", "--host-only", "--name", TEST_NAME, "--subnet", TEST_SUBNET],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    info = json.loads(completed.stdout.strip().splitlines()[-1])
    assert info["ssh"] == f"root@{sandbox.settings.address}"
    assert info["key"] == str(sandbox.settings.key_path)
