"""The real Pulumi CLI (scripts/install-pulumi.sh) on a local-backend stack, for what it does without a
language host: stack init, config set (nested paths, secrets), config read back.

The program never sees Pulumi.<stack>.yaml: the engine hands it each key's `value` string and the list of
secret keys. So the values `pulumi config --json --show-secrets` prints, given to pulumi.runtime exactly so,
must parse into the hosts the user typed, and the stack file must hold the key only encrypted.
The test fails, never skips, when the CLI is missing.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pulumi
import pytest
from pulumi_harness import RecordingMocks, make_certificate, resolve

from infra import stack_config
from infra.stack_config import ConfigError, ExistingHost

ROOT = Path(__file__).resolve().parent.parent
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUtest\n-----END OPENSSH PRIVATE KEY-----"
)


def toolchain() -> dict[str, str]:
    """scripts/toolchain.env, the one place the versions are pinned."""
    pins = {}
    for line in (ROOT / "scripts/toolchain.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pins[key] = shlex.split(value)[0]
    return pins


def pulumi_cli() -> str:
    pins = toolchain()
    want = f"v{pins['PULUMI_VERSION']}"
    for candidate in (Path(pins["RAINDROP_TOOLCHAIN_DIR"]) / "bin/pulumi", shutil.which("pulumi")):
        if candidate and os.access(candidate, os.X_OK):
            found = subprocess.run([str(candidate), "version"], capture_output=True, text=True, check=False)
            if found.stdout.strip() == want:
                return str(candidate)
    pytest.fail(f"no pulumi {want}: run `make toolchain` (scripts/install-pulumi.sh)")


class Stack:
    """A stack on a file:// backend in a scratch project dir, with its own PULUMI_HOME and passphrase file."""

    def __init__(self, tmp: Path) -> None:
        self.cli = pulumi_cli()
        self.project = tmp / "project"
        self.project.mkdir()
        shutil.copy(ROOT / "Pulumi.yaml", self.project / "Pulumi.yaml")
        passphrase = tmp / "passphrase"
        passphrase.write_text("correct horse battery staple\n")
        (tmp / "state").mkdir()
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp),
            "PULUMI_HOME": str(tmp / "pulumi-home"),
            "PULUMI_BACKEND_URL": f"file://{tmp / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase),
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
        }
        self.pulumi("login", f"file://{tmp / 'state'}")
        self.pulumi("stack", "init", "hosts", "--secrets-provider", "passphrase")

    def pulumi(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run([self.cli, "--non-interactive", *args], cwd=self.project, env=self.env,
                                input=stdin, capture_output=True, text=True, check=False, timeout=120)
        assert result.returncode == 0, f"pulumi {' '.join(args)}: {result.stdout}{result.stderr}"
        return result.stdout

    def program_config(self) -> tuple[dict[str, str], list[str]]:
        """What the engine gives the program: each key's value as a string, and which keys are secret."""
        shown = json.loads(self.pulumi("config", "--json", "--show-secrets"))
        return {key: item["value"] for key, item in shown.items()}, [k for k, v in shown.items() if v["secret"]]


def load(values: dict[str, str], secret_keys: list[str]) -> stack_config.StackConfig:
    pulumi.runtime.set_mocks(RecordingMocks(), project="raindrop", stack="hosts")
    pulumi.runtime.set_all_config(values, secret_keys=secret_keys)
    return stack_config.load()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    stack = Stack(tmp_path_factory.mktemp("pulumi-cli"))
    stack.pulumi("config", "set", "--path", "raindrop:hosts[0].address", "203.0.113.5")
    stack.pulumi("config", "set", "--path", "raindrop:hosts[0].port", "2222")
    stack.pulumi("config", "set", "--path", "raindrop:hosts[1].address", "Web2.Example.com")
    stack.pulumi("config", "set", "--path", "raindrop:hosts[1].user", "deploy")
    stack.pulumi("config", "set", "--path", "raindrop:adminCidrs[0]", "198.51.100.0/24")
    # No value on the command line: read from stdin, as a multi-line key must be given.
    stack.pulumi("config", "set", "--secret", "raindrop:sshPrivateKey", stdin=PRIVATE_KEY)
    return stack


def test_the_cli_is_the_pinned_version() -> None:
    result = subprocess.run([pulumi_cli(), "version"], capture_output=True, text=True, check=True)
    assert result.stdout == f"v{toolchain()['PULUMI_VERSION']}\n"


def test_hosts_set_by_path_parse_as_the_program_reads_them(stack: Stack) -> None:
    values, secret_keys = stack.program_config()
    assert secret_keys == ["raindrop:sshPrivateKey"]
    assert json.loads(values["raindrop:hosts"]) == [
        {"address": "203.0.113.5", "port": 2222}, {"address": "Web2.Example.com", "user": "deploy"}
    ]
    parsed = load(values, secret_keys)
    assert parsed.hosts == (
        ExistingHost(address="203.0.113.5", user="root", port=2222),
        ExistingHost(address="web2.example.com", user="deploy", port=22),
    )
    assert parsed.admin_cidrs == ("198.51.100.0/24",)
    assert resolve(parsed.ssh_private_key) == (PRIVATE_KEY, True)


def test_the_stack_file_holds_the_key_only_encrypted(stack: Stack) -> None:
    text = (stack.project / "Pulumi.hosts.yaml").read_text()
    assert "BEGIN OPENSSH" not in text and "b3BlbnNzaC1rZXkt" not in text
    assert "raindrop:sshPrivateKey:\n    secure: " in text
    assert "203.0.113.5" in text  # plain values stay readable and diffable


def test_a_key_set_without_secret_is_refused(stack: Stack) -> None:
    values, _ = stack.program_config()
    stack.pulumi("config", "set", "raindrop:sshPrivateKey", "--plaintext", stdin=PRIVATE_KEY)
    try:
        plain_values, plain_secret_keys = stack.program_config()
        assert plain_secret_keys == []
        with pytest.raises(ConfigError) as error:
            load(plain_values, plain_secret_keys)
        assert str(error.value) == (
            "raindrop:sshPrivateKey: must be set as a secret: pulumi config set --secret raindrop:sshPrivateKey"
        )
    finally:
        stack.pulumi("config", "set", "--secret", "raindrop:sshPrivateKey", stdin=values["raindrop:sshPrivateKey"])


def test_a_provided_certificate_set_with_the_cli_parses_and_stays_encrypted(tmp_path: Path) -> None:
    """Multi-line PEM values through `pulumi config set --secret` (stdin), as README tells the user to."""
    pem = make_certificate("raindrop.example.com")
    tls = Stack(tmp_path)
    tls.pulumi("config", "set", "--path", "raindrop:adminCidrs[0]", "198.51.100.0/24")
    tls.pulumi("config", "set", "raindrop:siteDomain", "raindrop.example.com")
    tls.pulumi("config", "set", "--secret", "raindrop:tlsCertificate", stdin=pem.certificate)
    tls.pulumi("config", "set", "--secret", "raindrop:tlsPrivateKey", stdin=pem.private_key)
    values, secret_keys = tls.program_config()
    assert sorted(secret_keys) == ["raindrop:tlsCertificate", "raindrop:tlsPrivateKey"]
    parsed = load(values, secret_keys)
    assert (parsed.tls, parsed.site_domain, parsed.tls_certificate_names) == (
        "provided", "raindrop.example.com", ("raindrop.example.com",)
    )
    for output, given in ((parsed.tls_certificate, pem.certificate), (parsed.tls_private_key, pem.private_key)):
        value, is_secret = resolve(output)
        assert (value.strip(), is_secret) == (given.strip(), True)
    assert "BEGIN" not in (tls.project / "Pulumi.hosts.yaml").read_text()


def test_the_install_script_lints_clean() -> None:
    assert shutil.which("shellcheck"), "shellcheck is missing: apt-get install shellcheck"
    result = subprocess.run(["shellcheck", "-x", "-S", "warning", "scripts/install-pulumi.sh"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
