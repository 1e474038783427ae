"""raindrop-tls (issue 14, the host): its shell file checked by shellcheck as it is, the command and the phases
provision and deploy run compared whole, the files and secrets of each raindrop_tls mode, and tls.sh run for real
in bash on a scratch tree (real openssl; certbot and nginx stubbed, so no CA and no nginx of this machine is
touched). The real ACME round trip is tests/e2e/test_https.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import BUNDLE, SECRETS, TEMPLATE_VALUES, stub_bin

from app.steps.deploy import deploy
from app.steps.files import host_config, public_files, secret_files
from app.steps.provision import place_files, provision
from app.steps.secrets import write_secrets
from app.steps.shell import lines, prelude
from app.steps.tls import DEPLOY_HOOK, SH_DIR, deploy_tls, provision_tls, tls_command, tls_files

ACME = {**TEMPLATE_VALUES, "raindrop_tls": "acme", "raindrop_site_domain": "raindrop.test"}
PROVIDED = {**TEMPLATE_VALUES, "raindrop_tls": "provided", "raindrop_site_domain": "raindrop.test"}
OBTAIN = ('/usr/local/bin/raindrop-tls obtain || log "raindrop-tls obtain failed (above): the release is live, '
          'nginx keeps the certificate it had"')


def self_signed(tmp: Path, name: str = "raindrop.test") -> tuple[str, str]:
    key, cert = tmp / f"{name}.key", tmp / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)  # fmt: skip
    return cert.read_text(), key.read_text()


@pytest.mark.parametrize("name", ["tls.sh", "certbot-deploy-hook.sh"])
def test_shellcheck_reads_the_shell_files_as_they_are(name):
    result = subprocess.run(["shellcheck", str(SH_DIR / name)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_command_is_the_prelude_the_variables_and_the_shell_file():
    cfg = host_config(ACME)
    header = (
        "TLS_CONF=/etc/raindrop/tls.conf\n"
        "CERT_NAME=raindrop\n"
        "LETSENCRYPT_DIR=/etc/letsencrypt\n"
        "NGINX_PID=/run/nginx.pid\n"
        "die() { printf '\\n!!! RAINDROP TLS FAILED: %s\\n\\n' \"$*\" >&2; exit 1; }\n"
    )
    assert tls_command(cfg).body == prelude(cfg) + header + (SH_DIR / "tls.sh").read_text()
    assert not tls_command(cfg).secret


def test_acme_provision_places_the_command_and_hook_prepares_then_starts_services():
    cfg = host_config(ACME)
    assert "certbot" in cfg.packages
    files = tls_files(cfg)
    assert [(f.path, f.mode, f.owner) for f in files] == [
        ("/usr/local/bin/raindrop-tls", "700", "root:root"),
        (DEPLOY_HOOK, "755", "root:root"),
    ]
    assert files[1].content == (SH_DIR / "certbot-deploy-hook.sh").read_text()
    phase = provision_tls(cfg, place_files(files))
    assert phase == lines(
        'log "https: raindrop-tls, certbot\'s deploy hook, a certificate nginx can load"',
        place_files(files),
        "/usr/local/bin/raindrop-tls prepare",
        "timer_enable certbot.timer",
    )
    text = provision(cfg).body
    # The settings and certbot's drop-in are system files placed before; the services (nginx) start after.
    order = [text.index(place_files(cfg.system_files)), text.index(phase), text.index('log "services enabled at boot')]
    assert order == sorted(order)
    assert "/etc/systemd/system/certbot.service.d/raindrop.conf" in {f.path for f in cfg.system_files}


def test_acme_deploy_asks_for_the_certificate_once_live_and_on_a_no_op_redeploy():
    cfg = host_config(ACME)
    assert deploy_tls(cfg) == OBTAIN
    text = deploy(cfg, BUNDLE).body
    nothing = text.index('log "release $HASH is already current with these files: nothing to do"')
    assert text[nothing:].startswith(lines(
        'log "release $HASH is already current with these files: nothing to do"', f"  {OBTAIN}", "  exit 0",
    ).lstrip())  # fmt: skip
    live = text.index('  log "release $(basename "$RELEASE") is live"\n')
    assert text[live:].startswith(lines('  log "release $(basename "$RELEASE") is live"', f"  {OBTAIN}", "else"))
    assert text.count(OBTAIN) == 2


def test_provided_prepares_but_asks_no_ca_and_installs_no_certbot():
    cfg = host_config(PROVIDED)
    assert "certbot" not in cfg.packages
    assert [f.path for f in tls_files(cfg)] == ["/usr/local/bin/raindrop-tls"]
    assert provision_tls(cfg, "PLACE") == lines(
        'log "https: raindrop-tls, certbot\'s deploy hook, a certificate nginx can load"', "PLACE",
        "/usr/local/bin/raindrop-tls prepare",
    )  # fmt: skip
    assert deploy_tls(cfg) == ""
    assert "/usr/local/bin/raindrop-tls" not in deploy(cfg, BUNDLE).body


@pytest.mark.parametrize("mode", ["none", "offloaded"])
def test_no_tls_on_the_host_means_no_raindrop_tls_and_no_tls_files(mode):
    cfg = host_config({**TEMPLATE_VALUES, "raindrop_tls": mode})
    assert provision_tls(cfg, "PLACE") == "" and deploy_tls(cfg) == ""
    assert "/usr/local/bin/raindrop-tls" not in provision(cfg).body + deploy(cfg, BUNDLE).body
    assert "certbot" not in cfg.packages
    paths = {f.path for f in cfg.system_files + cfg.app_files}
    assert not {"/etc/raindrop/tls.conf", "/etc/nginx/snippets/raindrop-tls.conf"} & paths


def test_public_files_of_each_mode():
    def paths(values):
        files = public_files(values)
        return {f.path for f in files.system + files.app}

    tls_paths = {"/etc/raindrop/tls.conf", "/etc/nginx/snippets/raindrop-tls.conf",
                 "/etc/systemd/system/certbot.service.d/raindrop.conf"}
    assert paths(ACME) & tls_paths == tls_paths
    assert paths(PROVIDED) & tls_paths == tls_paths - {"/etc/systemd/system/certbot.service.d/raindrop.conf"}
    # The PEM files are never public: only the secrets step carries them.
    assert not any(p.startswith("/etc/raindrop/tls/provided/") for p in paths(PROVIDED))


def test_provided_certificate_and_key_are_staged_files_never_lines_of_secrets_env(tmp_path):
    cert, key = self_signed(tmp_path)
    secrets = {**SECRETS, "tls_certificate": cert, "tls_private_key": key}
    files = {f.path: f for f in secret_files(PROVIDED, secrets)}
    assert files["/etc/raindrop/tls/provided/fullchain.pem"].content == cert
    assert files["/etc/raindrop/tls/provided/privkey.pem"].content == key
    modes = [files[f"/etc/raindrop/tls/provided/{name}.pem"].mode for name in ("fullchain", "privkey")]
    assert modes == ["640", "600"]
    script = write_secrets(host_config(PROVIDED), secrets, files.values())
    assert script.secret
    env_lines = script.body.split("cat > \"$tmp\" <<'RAINDROP_EOF'\n", 1)[1].split("RAINDROP_EOF", 1)[0]
    assert [line.split("=", 1)[0] for line in env_lines.splitlines()] == [
        "DB_PASSWORD", "REDIS_PASSWORD", "ADMIN_PASSWORD", "SECRET_KEY",
    ]
    # Without provided mode the same files are not placed.
    assert not any("/tls/provided/" in f.path for f in secret_files(ACME, SECRETS))


def test_provided_without_both_halves_or_with_no_pem_is_refused_by_name(tmp_path):
    cert, key = self_signed(tmp_path)
    with pytest.raises(ValueError, match="needs the secrets tls_certificate and tls_private_key; tls_private_key "):
        secret_files(PROVIDED, {**SECRETS, "tls_certificate": cert})
    with pytest.raises(ValueError, match="secret tls_certificate must be the certificate and its chain in PEM form"):
        secret_files(PROVIDED, {**SECRETS, "tls_certificate": "not a certificate", "tls_private_key": key})
    with pytest.raises(ValueError, match="secret tls_private_key must be one private key in PEM form"):
        secret_files(PROVIDED, {**SECRETS, "tls_certificate": cert, "tls_private_key": cert})


# --- tls.sh for real, on a scratch tree ------------------------------------------------------------------------
STUBS = {
    # nginx: -t passes unless STUB_NGINX_T=fail; every call is logged.
    "nginx": 'echo "nginx $*" >> "$STUB_LOG"\n'
             'if [ "$1" = -t ] && [ "${STUB_NGINX_T:-ok}" = fail ]; then echo "nginx: bad certificate" >&2; exit 1; fi',
    # certbot: fails like a CA that cannot resolve the domain, or writes a lineage as certbot does.
    "certbot": '''
echo "certbot $*" >> "$STUB_LOG"
if [ "${STUB_CERTBOT:-ok}" = fail ]; then
  printf 'Certbot failed to authenticate some domains (authenticator: webroot).\\n  Domain: raindrop.test\\n'
  printf '  Type:   dns\\n  Detail: DNS problem: NXDOMAIN looking up A for raindrop.test\\n\\n'
  exit 1
fi
while [ "$1" != --config-dir ]; do shift; done
live="$2/live/raindrop"
mkdir -p "$live"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 90 -subj /CN=raindrop.test \\
  -addext subjectAltName=DNS:raindrop.test -keyout "$live/privkey.pem" -out "$live/fullchain.pem" 2>/dev/null
''',
}


class TlsHost:
    """raindrop-tls with its paths under `root`, and a live process standing in for nginx's master."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = stub_bin(root, STUBS)
        self.log = root / "calls.log"
        self.tls = root / "tls"
        self.letsencrypt = root / "letsencrypt"
        self.nginx = subprocess.Popen(["sleep", "600"])
        (root / "nginx.pid").write_text(f"{self.nginx.pid}\n")
        conf = root / "tls.conf"
        conf.write_text(lines(
            "TLS_MODE=acme", "SITE_DOMAIN=raindrop.test", "ACME_EMAIL=", "ACME_DIRECTORY=https://ca.invalid/dir",
            "ACME_CA_BUNDLE=", f"ACME_WEBROOT={root / 'webroot'}", f"TLS_DIR={self.tls}", "HTTPS_PORT=443",
        ))  # fmt: skip
        self.script = root / "raindrop-tls"
        self.script.write_text(lines(
            "set -euo pipefail",
            "log() { printf '==> %s\\n' \"$*\"; }",
            "die() { printf '!!! %s\\n' \"$*\" >&2; exit 1; }",
            f"TLS_CONF={conf}", "CERT_NAME=raindrop", f"LETSENCRYPT_DIR={self.letsencrypt}",
            f"NGINX_PID={root / 'nginx.pid'}",
            (SH_DIR / "tls.sh").read_text(),
        ))  # fmt: skip

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        self.log.write_text("")
        environment = {"PATH": f"{self.bin}:/usr/sbin:/usr/bin:/sbin:/bin", "STUB_LOG": str(self.log), **env}
        return subprocess.run(["bash", str(self.script), *args], capture_output=True, text=True, env=environment,
                              check=False)  # fmt: skip

    def live(self) -> str:
        return str((self.tls / "live").readlink())

    def state(self) -> str:
        return (self.tls / "certificate-state.conf").read_text()

    def calls(self) -> list[str]:
        return [line.split()[0] + " " + line.split()[1] for line in self.log.read_text().splitlines()]


@pytest.fixture
def tls_host(tmp_path):
    host = TlsHost(tmp_path)
    yield host
    host.nginx.kill()
    host.nginx.wait()


def test_prepare_serves_a_stand_in_until_a_certificate_exists(tls_host):
    result = tls_host.run("prepare")
    assert result.returncode == 0, result.stderr
    assert tls_host.live() == f"{tls_host.tls}/standin"
    assert tls_host.state() == "set $raindrop_certificate stand-in;\n"
    assert tls_host.calls() == ["nginx -t", "nginx -s"]
    subject = subprocess.run(["openssl", "x509", "-noout", "-subject", "-in", str(tls_host.tls / "live/fullchain.pem")],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "CN = raindrop.test" in subject
    assert (tls_host.tls / "dhparam.pem").read_text().startswith("-----BEGIN DH PARAMETERS-----")
    assert (tls_host.root / "webroot/.well-known/acme-challenge").is_dir()
    # Again: nothing changes, nginx is not reloaded.
    assert tls_host.run("prepare").returncode == 0 and tls_host.calls() == []


def test_a_failed_acme_request_says_why_keeps_the_stand_in_and_succeeds(tls_host):
    result = tls_host.run("obtain", STUB_CERTBOT="fail")
    assert result.returncode == 0, result.stderr
    assert ("*** no certificate yet for raindrop.test: serving a self-signed stand-in on :443 and the site over http "
            "on :80; reason (certbot exit 1): DNS problem: NXDOMAIN looking up A for raindrop.test\n") in result.stderr
    assert tls_host.live() == f"{tls_host.tls}/standin"
    assert "stand-in" in tls_host.state()


def test_a_certificate_switches_nginx_after_nginx_t_and_a_second_run_only_checks(tls_host):
    result = tls_host.run("obtain")
    assert result.returncode == 0, result.stderr
    assert tls_host.live() == f"{tls_host.letsencrypt}/live/raindrop"
    assert tls_host.state() == "set $raindrop_certificate real;\n"
    certbot = next(line for line in tls_host.log.read_text().splitlines() if line.startswith("certbot"))
    assert certbot == (
        f"certbot certonly --non-interactive --agree-tos --register-unsafely-without-email --server "
        f"https://ca.invalid/dir --config-dir {tls_host.letsencrypt} --cert-name raindrop -d raindrop.test --webroot "
        f"--webroot-path {tls_host.root / 'webroot'} --keep-until-expiring"
    )
    # stand-in first (prepare), then the real one: each switch is nginx -t, then the reload.
    assert tls_host.calls() == ["nginx -t", "nginx -s", "certbot certonly", "nginx -t", "nginx -s"]
    assert "tls: certificate for raindrop.test is live" in result.stdout
    again = tls_host.run("obtain")
    assert again.returncode == 0 and tls_host.calls() == ["certbot certonly"]
    assert "the certificate for raindrop.test is live" in again.stdout
    assert tls_host.run("status").stdout.startswith(f"real certificate: {tls_host.letsencrypt}/live/raindrop\n")


def test_a_certificate_nginx_refuses_goes_back_to_what_was_live(tls_host):
    assert tls_host.run("prepare").returncode == 0
    result = tls_host.run("obtain", STUB_NGINX_T="fail")
    assert result.returncode == 0, result.stderr
    assert "nginx refuses it: the stand-in keeps serving" in result.stderr
    assert tls_host.live() == f"{tls_host.tls}/standin"
    assert "stand-in" in tls_host.state()
    assert "nginx -s" not in tls_host.calls()


def test_a_refused_renewal_keeps_the_valid_certificate_live_and_says_so(tls_host):
    assert tls_host.run("obtain").returncode == 0
    result = tls_host.run("obtain", STUB_CERTBOT="fail")
    assert result.returncode == 0, result.stderr
    assert ("*** certbot could not renew the certificate for raindrop.test (exit 1): DNS problem: NXDOMAIN looking up "
            "A for raindrop.test; the current one stays, expiring ") in result.stderr
    assert "no certificate yet" not in result.stderr
    assert tls_host.live() == f"{tls_host.letsencrypt}/live/raindrop"
    assert tls_host.state() == "set $raindrop_certificate real;\n"
