"""Issue 14 end to end: a fresh sandbox host gets a real certificate from a real ACME server.

The ACME server is Debian's pebble, on the machine's end of the sandbox's veth (the only address besides
loopback the host can reach), with pebble-challtestsrv as its DNS resolver on loopback: it answers the site
domain with the sandbox's address and knows no other name. Nothing here talks to any other address.

The tests run in file order on one host:
  1. the first deploy asks for a domain that does not resolve: the deploy succeeds, says why there is no
     certificate, and the site serves (http on :80, the self-signed stand-in on :443);
  2. a redeploy for a domain that resolves: certbot gets pebble's certificate over HTTP-01, nginx switches
     to it; then https, the redirect, HSTS, the Secure cookie, the TLS-only admin port;
  3. a forced renewal under a load loop: a new serial, served without one failed request.

RAINDROP_TLS_E2E_NAME / RAINDROP_TLS_E2E_SUBNET put it on another host; RAINDROP_E2E_KEEP=1 keeps the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from e2e_client import wait_for
from requests.adapters import HTTPAdapter

from app.sandbox.deploy import SandboxTls, deploy, host_secrets
from app.sandbox.host import Sandbox
from app.sandbox.settings import SandboxSettings
from app.steps.script import Script

if os.geteuid() != 0:  # a failure, not a skip: a suite that silently did nothing would read as passing
    pytest.fail("the sandbox tests need root (network namespaces, systemd-nspawn)", pytrace=False)

NAME = os.environ.get("RAINDROP_TLS_E2E_NAME", "rdtls")
SUBNET = os.environ.get("RAINDROP_TLS_E2E_SUBNET", "10.213.9.0/30")
DOMAIN = "raindrop.test"
# challtestsrv has no record for it: pebble's validation finds no address, as for a domain whose DNS is not set.
UNRESOLVED = "nowhere.test"
PEBBLE_PORT = 14000
ADMIN_PORT = 8090


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Pebble:
    """pebble and pebble-challtestsrv as child processes of this test, stopped (by their pids) at the end."""

    def __init__(self, work: Path, listen: str, sandbox_address: str) -> None:
        self.work = work
        self.listen = listen
        self.sandbox_address = sandbox_address
        self.dns_port = free_loopback_port()
        self.dns_management = free_loopback_port()
        self.management = free_loopback_port()
        self.processes: list[subprocess.Popen] = []
        # pebble's own https (directory and management): a self-signed certificate for both addresses, which
        # is its own CA. certbot on the host trusts it through raindrop_acme_ca_bundle.
        self.listener_ca = work / "listener.pem"
        self.listener_key = work / "listener-key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "2", "-subj", "/CN=pebble", "-addext", f"subjectAltName=IP:{listen},IP:127.0.0.1",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-keyout", str(self.listener_key), "-out", str(self.listener_ca)],
            check=True, capture_output=True,
        )  # fmt: skip

    @property
    def directory(self) -> str:
        return f"https://{self.listen}:{PEBBLE_PORT}/dir"

    def start(self) -> None:
        log = (self.work / "challtestsrv.log").open("ab")
        self.processes.append(subprocess.Popen(
            ["pebble-challtestsrv", "-defaultIPv4", "", "-defaultIPv6", "", "-dns01", f"127.0.0.1:{self.dns_port}",
             "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", f"127.0.0.1:{self.dns_management}"],
            stdout=log, stderr=log,
        ))  # fmt: skip
        config = self.work / "pebble.json"
        config.write_text(json.dumps({"pebble": {
            "listenAddress": f"{self.listen}:{PEBBLE_PORT}",
            "managementListenAddress": f"127.0.0.1:{self.management}",
            "certificate": str(self.listener_ca), "privateKey": str(self.listener_key),
            # HTTP-01 on the real port 80 of the sandbox's nginx (pebble's default is 5002).
            "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": False,
        }}))  # fmt: skip
        log = (self.work / "pebble.log").open("ab")
        # No random sleeps before validation, no nonces refused on purpose: a deterministic CA.
        env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
        self.processes.append(subprocess.Popen(
            ["pebble", "-config", str(config), "-dnsserver", f"127.0.0.1:{self.dns_port}"],
            stdout=log, stderr=log, env=env,
        ))  # fmt: skip
        wait_for(self._answers, 30, "pebble's directory answering")
        added = requests.post(f"http://127.0.0.1:{self.dns_management}/add-a",
                              json={"host": DOMAIN, "addresses": [self.sandbox_address]}, timeout=10)
        assert added.status_code == 200, added.text

    def _answers(self) -> bool:
        with contextlib.suppress(requests.RequestException):
            return requests.get(self.directory, verify=str(self.listener_ca), timeout=5).status_code == 200
        return False

    def root_ca(self) -> str:
        """The root that signs the certificates pebble issues (new on each start), from its management API."""
        response = requests.get(f"https://127.0.0.1:{self.management}/roots/0", verify=str(self.listener_ca),
                                timeout=10)
        response.raise_for_status()
        return response.text

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


class SiteName(HTTPAdapter):
    """requests to the sandbox's address as if DNS named it DOMAIN: SNI and certificate check for DOMAIN."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["server_hostname"] = DOMAIN
        kwargs["assert_hostname"] = DOMAIN
        super().init_poolmanager(*args, **kwargs)


class Log:
    """Every line the deploy printed, for the messages the tests look for."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        print(line, flush=True)

    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture(scope="module")
def log() -> Log:
    return Log()


@pytest.fixture(scope="module")
def host(log: Log) -> Iterator[Sandbox]:
    sandbox = Sandbox(SandboxSettings(name=NAME, subnet=SUBNET), log=log)
    yield sandbox
    if os.environ.get("RAINDROP_E2E_KEEP") != "1":
        sandbox.down()


@pytest.fixture(scope="module")
def pebble(host: Sandbox, tmp_path_factory) -> Iterator[Pebble]:
    host.up_host(fresh=True)  # the veth's machine end (pebble's address) exists from here on
    server = Pebble(tmp_path_factory.mktemp("pebble"), host.settings.host_address, host.settings.address)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def timed_deploy(host: Sandbox, pebble: Pebble, release, log: Log, figure, domain: str, what: str) -> dict:
    """A deploy for `domain` through pebble, timed as figure `what`; its info and the log lines it wrote."""
    started = time.monotonic()
    start_line = len(log.lines)
    info = deploy(host, release=release, tls=SandboxTls(mode="acme", domain=domain, directory=pebble.directory,
                                                        ca_bundle=pebble.listener_ca))
    figure(what, time.monotonic() - started)
    return {"info": info, "output": "\n".join(log.lines[start_line:])}


@pytest.fixture(scope="module")
def first_deploy(host: Sandbox, pebble: Pebble, release, log: Log, figure) -> dict:
    """The host's first deploy, for a domain that does not resolve."""
    return timed_deploy(host, pebble, release, log, figure, UNRESOLVED,
                        "https: fresh host to healthy, no certificate (domain unresolved)")


@pytest.fixture(scope="module")
def real_deploy(first_deploy, host: Sandbox, pebble: Pebble, release, log: Log, figure) -> dict:
    """A redeploy for DOMAIN, which challtestsrv resolves to the sandbox: pebble issues the certificate."""
    return timed_deploy(host, pebble, release, log, figure, DOMAIN, "https: redeploy with a certificate issued")


@pytest.fixture(scope="module")
def trust(real_deploy, pebble: Pebble, tmp_path_factory) -> Path:
    """pebble's root, the only CA the checks trust."""
    path = tmp_path_factory.mktemp("trust") / "pebble-root.pem"
    path.write_text(pebble.root_ca())
    return path


def pebble_session(trust: Path) -> requests.Session:
    """A session trusting pebble's root only. trust_env off: REQUESTS_CA_BUNDLE in the environment would replace
    `verify` (requests reads it first), and no proxy from the environment may carry a request off the machine."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(trust)
    session.mount("https://", SiteName())
    return session


@pytest.fixture
def https(trust: Path) -> Iterator[requests.Session]:
    with pebble_session(trust) as session:
        yield session


def site_url(host: Sandbox, path: str = "/") -> str:
    return f"https://{host.settings.address}{path}"


def served_serial(host: Sandbox, trust: Path, port: int = 443) -> int:
    """The serial of the certificate nginx serves now, checked against pebble's root and the domain."""
    context = ssl.create_default_context(cafile=str(trust))
    with socket.create_connection((host.settings.address, port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=DOMAIN) as tls:
        return int(tls.getpeercert()["serialNumber"], 16)


def on_host(host: Sandbox, body: str) -> str:
    with host.executor(echo=lambda _line: None) as executor:
        return executor.run(Script("tls-e2e", body)).stdout


# -- 1. a domain that does not resolve ---------------------------------------------------------------------
def test_unresolved_domain_deploys_says_why_and_the_site_serves(first_deploy, host):
    output = first_deploy["output"]
    message = next((line for line in output.splitlines() if "no certificate yet for" in line), None)
    assert message is not None, output[-3000:]
    assert f"no certificate yet for {UNRESOLVED}: serving a self-signed stand-in" in message
    # The CA's own reason is in the same line, naming the domain it could not find.
    reason = message.split("reason (certbot exit", 1)[1]
    assert UNRESOLVED in reason, message
    # The site answers over http (no redirect before a real certificate) and on :443 with the stand-in.
    plain = requests.get(f"http://{host.settings.address}/api/health", timeout=10, allow_redirects=False)
    assert plain.status_code == 200
    index = requests.get(f"http://{host.settings.address}/", timeout=10, allow_redirects=False)
    assert index.status_code == 200 and '<base href="/">' in index.text
    standin = requests.get(site_url(host, "/api/health"), verify=False, timeout=10)  # noqa: S501 - the stand-in
    assert standin.status_code == 200
    assert "real" not in on_host(host, "raindrop-tls status").splitlines()[0]


# -- 2. a real certificate -----------------------------------------------------------------------------------
def test_redeploy_gets_pebbles_certificate_and_switches_nginx(real_deploy, host, trust):
    output = real_deploy["output"]
    assert f"tls: certificate for {DOMAIN} is live" in output, output[-3000:]
    assert "no certificate yet" not in output
    status = on_host(host, "raindrop-tls status")
    assert status.startswith("real certificate: /etc/letsencrypt/live/raindrop"), status
    assert served_serial(host, trust) > 0  # verified against pebble's root, for DOMAIN
    assert real_deploy["info"]["url"] == f"https://{DOMAIN}/"


def test_https_serves_the_site_and_the_api_with_hsts(https, host):
    index = https.get(site_url(host), timeout=10)
    assert index.status_code == 200 and '<base href="/">' in index.text
    assert index.headers["Strict-Transport-Security"] == "max-age=63072000"
    assert "no-cache" in index.headers["Cache-Control"]  # the location's own header survives beside HSTS
    health = https.get(site_url(host, "/api/health"), timeout=10)
    assert health.status_code == 200
    assert health.headers["Strict-Transport-Security"] == "max-age=63072000"


def test_http_redirects_to_https_but_serves_acme_challenges(host):
    plain = requests.get(f"http://{host.settings.address}/users/bob?tab=posts", headers={"Host": DOMAIN},
                         timeout=10, allow_redirects=False)
    assert plain.status_code == 301
    assert plain.headers["Location"] == f"https://{DOMAIN}/users/bob?tab=posts"
    on_host(host, "echo e2e-token > /var/www/raindrop-acme/.well-known/acme-challenge/e2e-token")
    challenge = requests.get(f"http://{host.settings.address}/.well-known/acme-challenge/e2e-token",
                             headers={"Host": DOMAIN}, timeout=10, allow_redirects=False)
    assert (challenge.status_code, challenge.text) == (200, "e2e-token\n")
    on_host(host, "rm -f /var/www/raindrop-acme/.well-known/acme-challenge/e2e-token")


def test_session_cookie_is_secure(https, host):
    name = f"tls{os.getpid()}"
    response = https.post(site_url(host, "/api/auth/register"), timeout=30,
                          json={"username": name, "email": f"{name}@example.test", "password": "correct horse battery"})
    assert response.status_code == 201, response.text
    cookie = next(c for c in response.cookies if c.name == "raindrop_session")
    assert cookie.secure
    assert "Secure" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]
    me = https.get(site_url(host, "/api/auth/me"), timeout=10)
    assert me.status_code == 200 and me.json()["user"]["username"] == name


def test_admin_port_answers_only_over_tls(https, host):
    password = host_secrets(host)["admin_password"]
    admin = https.get(f"https://{host.settings.address}:{ADMIN_PORT}/", auth=("admin", password), timeout=30)
    assert admin.status_code == 200 and "Supervisor" in admin.text
    assert https.get(f"https://{host.settings.address}:{ADMIN_PORT}/", timeout=30).status_code == 401
    plain = requests.get(f"http://{host.settings.address}:{ADMIN_PORT}/", auth=("admin", password), timeout=10,
                         allow_redirects=False)
    # nginx's 497 (plain http on a TLS port) becomes a redirect to https on the same port; nothing is served.
    assert plain.status_code == 301
    assert plain.headers["Location"].startswith(f"https://{host.settings.address}:{ADMIN_PORT}/")
    assert "Supervisor" not in plain.text


# -- 3. renewal -------------------------------------------------------------------------------------------------
def test_renewal_timer_and_deploy_hook_are_in_place(real_deploy, host):
    text = on_host(host, "systemctl is-enabled certbot.timer; systemctl show -p Environment certbot.service; "
                         "test -x /etc/letsencrypt/renewal-hooks/deploy/raindrop-nginx-reload && echo hook")
    assert text.splitlines() == ["enabled", "Environment=REQUESTS_CA_BUNDLE=/etc/raindrop/acme-ca.pem", "hook"]


def test_forced_renewal_gives_a_new_serial_served_without_a_failed_request(host, trust, figure):
    before = served_serial(host, trust)
    counts = {"ok": 0, "failed": 0}
    failures: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def load() -> None:
        # A new connection (a new TLS handshake) for every request, so requests meet the reload at every stage.
        while not stop.is_set():
            with pebble_session(trust) as session:
                try:
                    ok = session.get(site_url(host, "/api/health"), timeout=30).status_code == 200
                    error = "" if ok else "status"
                except requests.RequestException as exc:
                    ok, error = False, repr(exc)
            with lock:
                counts["ok" if ok else "failed"] += 1
                if error:
                    failures.append(error)

    threads = [threading.Thread(target=load, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: counts["ok"] >= 5, 60, "the load loop's first requests")
        started = time.monotonic()
        # --no-random-sleep-on-renew, as Debian's certbot.service runs it: without a terminal, certbot would
        # first sleep up to 8 minutes.
        renewal = on_host(host, "REQUESTS_CA_BUNDLE=/etc/raindrop/acme-ca.pem certbot renew --force-renewal "
                                "--no-random-sleep-on-renew --non-interactive 2>&1")
        assert "raindrop: nginx reloaded onto the renewed certificate" in renewal, renewal
        after = wait_for(lambda: (s := served_serial(host, trust)) != before and s, 60, "nginx serving the new serial")
        figure("https: forced renewal until the new serial is served", time.monotonic() - started)
        # Keep loading a little past the switch: requests on the new workers, old ones draining.
        seen = counts["ok"]
        wait_for(lambda: counts["ok"] >= seen + 10, 60, "requests after the switch")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    print(f"e2e: renewal under load: {counts['ok']} requests ok, {counts['failed']} failed", flush=True)
    assert after != before
    assert counts["failed"] == 0, failures[:5]
    assert counts["ok"] > 15
