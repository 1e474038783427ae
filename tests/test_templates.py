"""The config templates, rendered and then read by the real programs: nginx, supervisord, gunicorn, mariadbd,
redis-server, logrotate and sh. Every daemon listens on 127.0.0.1 only and is stopped in teardown.

Needs the system packages of scripts/install-deps.sh and root (supervisord switches users, nginx and
mariadbd run as root here).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import crossplane
import jinja2.meta
import pytest
import websocket
from raindrop_server import wsgi_handler
from raindrop_server.security_headers import API_SECURITY_HEADERS

from app import render

VENV_BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "adm1n-s3cret"
# Secrets with every character that breaks naive quoting in sh, URLs, redis.conf and supervisor.
SECRET_KEY = "k$ey 'with' \"quotes\" & #hash"
DB_PASSWORD = "db pa$$:w@rd/?#'\""
REDIS_PASSWORD = 'r3dis "pa\\ss" $word'

REQUIRED = {
    "raindrop_admin_cidrs": ["127.0.0.0/8"],
    "raindrop_admin_password": ADMIN_PASSWORD,
    "raindrop_db_password": DB_PASSWORD,
    "raindrop_redis_password": REDIS_PASSWORD,
    "raindrop_secret_key": SECRET_KEY,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, what: str, attempts: int = 150, pause: float = 0.1):
    """Polls until predicate() is truthy (a bounded loop for a daemon to come up, not a timing assert)."""
    for _ in range(attempts):
        result = predicate()
        if result:
            return result
        time.sleep(pause)
    raise AssertionError(f"gave up waiting for {what}")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run(*argv: str | Path, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False, **kwargs)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def world_dir() -> Iterator[Path]:
    """A temp dir every user can traverse (pytest's tmp_path is root-only; supervisor's programs run as nobody)."""
    path = Path(tempfile.mkdtemp(prefix="raindrop-tpl-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def variables(**overrides) -> dict:
    return render.config_variables({**REQUIRED, **overrides})


# --- defaults.yml and render.py ----------------------------------------------------------------------


def test_defaults_document_every_variable_the_templates_use():
    env = render._environment()
    used: set[str] = set()
    for name in render.template_names():
        source = (render.CONFIG_DIR / f"{name}.j2").read_text()
        used |= jinja2.meta.find_undeclared_variables(env.parse(source))
    defaults = render.load_defaults()
    assert used - set(defaults) == set(), "used in a template but not in defaults.yml"
    assert set(defaults) - used == set(), "in defaults.yml but used by no template"
    assert all(name.startswith("raindrop_") for name in defaults)

    # Every variable has its own comment: the line above it is a comment or another variable of its group.
    lines = render.DEFAULTS_FILE.read_text().splitlines()
    for index, line in enumerate(lines):
        if re.match(r"raindrop_\w+:", line):
            above = lines[index - 1]
            assert above.startswith("#") or re.match(r"raindrop_\w+:", above), f"{line} has no comment"


def test_one_source_per_fact_every_half_reads_defaults_yml():
    """The facts config/defaults.yml holds are read from it by every half, never restated."""
    from raindrop_server.config import config_from_env

    from app.steps.host import HostConfig
    from app.steps.teardown import ENABLED_SITES
    from contracts import HEALTH_PATH
    from infra import scaleout, stack

    defaults = render.load_defaults()
    cfg = HostConfig.from_defaults()
    assert (cfg.app_user, cfg.base_dir, cfg.etc_dir, cfg.log_dir, cfg.env_file, cfg.bin_dir) == (
        defaults["raindrop_app_user"], defaults["raindrop_current_dir"].removesuffix("/current"),
        "/etc/raindrop", defaults["raindrop_log_dir"], defaults["raindrop_env_file"], defaults["raindrop_bin_dir"],
    )
    assert (cfg.db_name, cfg.db_user, cfg.supervisord_pidfile) == (
        defaults["raindrop_db_name"], defaults["raindrop_db_user"], defaults["raindrop_supervisord_pidfile"],
    )
    assert cfg.health_url == f"http://127.0.0.1:{defaults['raindrop_http_port']}{HEALTH_PATH}"
    # No layout default of its own: a HostConfig is made from the defaults (or a stack's values over them).
    with pytest.raises(TypeError, match="missing"):
        HostConfig()
    # The cloud half reads the same file through contracts (infra never imports app).
    assert (defaults["raindrop_db_name"], defaults["raindrop_db_user"]) == (scaleout.DB_NAME, scaleout.DB_USER)
    assert defaults["raindrop_admin_user"] == stack.ADMIN_USER
    assert ENABLED_SITES == ("/etc/nginx/sites-enabled/raindrop.conf", "/etc/nginx/sites-enabled/raindrop-admin.conf")
    # The server is its own package on the host and cannot read defaults.yml there: the env file gives it these
    # values (config/raindrop.env.j2), and its own defaults (for runs without that file) must agree with them.
    server = config_from_env({"RAINDROP_SECRET_KEY": "k" * 32, "RAINDROP_DATABASE_URL": "mysql+pymysql://u:p@h/d"})
    assert server["UPLOAD_DIR"] == defaults["raindrop_uploads_dir"]
    assert server["UPLOAD_URL_PREFIX"] == defaults["raindrop_upload_url_prefix"]
    # ... and it answers the health check where the deploy's gate and the load balancer ask.
    from raindrop_server import health

    assert health.bp.url_prefix + "/health" == HEALTH_PATH


def test_secrets_have_no_default():
    defaults = render.load_defaults()
    for secret in ("raindrop_admin_password", "raindrop_db_password", "raindrop_redis_password", "raindrop_secret_key"):
        assert defaults[secret] is None


def test_host_files_cover_every_template_and_keep_secrets_private():
    assert sorted(f.template for f in render.HOST_FILES) == render.template_names()
    by_template = {f.template: f for f in render.HOST_FILES}
    for secret_holder in ("supervisor.conf", "redis.conf", "raindrop.env"):
        assert by_template[secret_holder].mode & 0o007 == 0
    assert by_template["raindrop.env"].path == "/etc/raindrop/raindrop.env"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({**REQUIRED, "raindrop_http_prot": 80}, "unknown template variable 'raindrop_http_prot'"),
        (
            {k: v for k, v in REQUIRED.items() if k != "raindrop_redis_password"},
            "'raindrop_redis_password' has no default and must be given",
        ),
        ({**REQUIRED, "raindrop_secret_key": None}, "'raindrop_secret_key' has no default and must be given"),
        ({**REQUIRED, "raindrop_http_port": "80"}, "'raindrop_http_port' must be a int, not str"),
        ({**REQUIRED, "raindrop_cookie_secure": 1}, "'raindrop_cookie_secure' must be a bool, not int"),
        ({**REQUIRED, "raindrop_server_name": "a;\n}"}, "'raindrop_server_name' holds a line break"),
        ({**REQUIRED, "raindrop_admin_cidrs": []}, "'raindrop_admin_cidrs' must be a non-empty list"),
        ({**REQUIRED, "raindrop_admin_cidrs": "10.0.0.0/8"}, "'raindrop_admin_cidrs' must be a non-empty list"),
        ({**REQUIRED, "raindrop_admin_cidrs": ["10.0.0.0/8", "all"]}, "'all' is not a CIDR"),
        ({**REQUIRED, "raindrop_gunicorn_processes": 0}, "'raindrop_gunicorn_processes' must be at least 1"),
        ({**REQUIRED, "raindrop_celery_nice": 20}, "'raindrop_celery_nice' must be a niceness from 0 to 19, not 20"),
        ({**REQUIRED, "raindrop_celery_nice": -5}, "'raindrop_celery_nice' must be a niceness from 0 to 19, not -5"),
    ],
)
def test_config_variables_refuses_bad_input_naming_the_variable(given, message):
    with pytest.raises(render.ConfigError, match=re.escape(message)):
        render.config_variables(given)


def test_render_is_strict_about_undefined_variables_and_unknown_templates():
    with pytest.raises(render.ConfigError, match="'raindrop_redis_port' is undefined"):
        render.render("redis.conf", {})
    with pytest.raises(render.ConfigError, match=re.escape("no template 'httpd.conf'")):
        render.render("httpd.conf", variables())


def test_rendered_files_bind_loopback_never_all_addresses():
    files = {f.template: text for f, text in render.render_all(REQUIRED).items()}
    for text in files.values():
        assert "0.0.0.0" not in text  # noqa: S104 - checking that nothing binds every address
    assert "port = 127.0.0.1:9001" in files["supervisor.conf"]
    assert "bind-address = 127.0.0.1" in files["my.cnf"]
    assert re.search(r"^bind 127\.0\.0\.1 -::1$", files["redis.conf"], re.M)
    assert 'bind = ["127.0.0.1:10000"]' in files["gunicorn.conf.py"]
    assert "--bind 127.0.0.1:%(process_num)d" in files["supervisor.conf"]
    # Secrets reach the files only quoted or hashed, never the admin password in plain.
    assert ADMIN_PASSWORD not in "".join(files.values())


def test_nginx_site_text_has_the_key_directives():
    text = render.render("nginx-site.conf", variables())
    assert 'return 413 \'{"msg": "Request Entity Too Large(max=4M)"}\';' in text
    assert "client_max_body_size 4M;" in text
    assert "server_tokens off;" in text
    many = render.render("nginx-site.conf", variables(raindrop_gunicorn_processes=3))
    servers = [f"server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in (10000, 10001, 10002)]
    # Both by least connections (round-robin among equals); no stickiness anywhere.
    api = re.search(r"upstream raindrop_gunicorn \{(.*?)\}", many, re.S).group(1)
    assert [line.strip() for line in api.strip().splitlines() if not line.strip().startswith("#")] == [
        "zone raindrop_gunicorn 64k;",
        "least_conn;",
        *servers,
    ]
    sockets = re.search(r"upstream raindrop_socketio \{(.*?)\}", many, re.S).group(1)
    assert [line.strip() for line in sockets.strip().splitlines()] == [
        "zone raindrop_socketio 64k;",
        "least_conn;",
        *servers,
    ]
    assert not re.search(r"^\s*(ip_hash|hash)\b", many, re.M)
    api_location = re.search(r"location \^~ /api/ \{(.*?)\}", many, re.S).group(1)
    assert "proxy_next_upstream error timeout;" in api_location
    assert "proxy_next_upstream_tries 3;" in api_location


def test_nginx_admin_text_allows_only_the_admin_cidrs():
    text = render.render("nginx-admin.conf", variables(raindrop_admin_cidrs=["203.0.113.0/24", "2001:db8::/32"]))
    rules = re.findall(r"^\s*(allow|deny) (\S+);", text, re.M)
    assert rules == [("allow", "203.0.113.0/24"), ("allow", "2001:db8::/32"), ("deny", "all")]
    assert "auth_basic_user_file /etc/raindrop/admin.htpasswd;" in text
    assert "listen 8090;" in text


def test_htpasswd_line_is_bcrypt_and_refuses_bad_names():
    line = render.htpasswd_line("admin", ADMIN_PASSWORD)
    user, hashed = line.rstrip("\n").split(":", 1)
    assert user == "admin"
    assert hashed.startswith("$2b$10$")
    assert bcrypt.checkpw(ADMIN_PASSWORD.encode(), hashed.encode())
    for bad_user in ("", "ad:min", "ad min"):
        with pytest.raises(render.ConfigError, match="admin user name"):
            render.htpasswd_line(bad_user, "pw")
    with pytest.raises(render.ConfigError, match="72 bytes"):
        render.htpasswd_line("admin", "x" * 73)


# --- the env file, read by sh as supervisor's programs read it ---------------------------------------


def sourced_env(env_file: Path) -> dict[str, str]:
    out = run("env", "-i", "/bin/sh", "-c", f"set -a && . {env_file} && env -0")
    assert out.returncode == 0, out.stderr
    pairs = (item.split("=", 1) for item in out.stdout.split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith("RAINDROP_")}


def test_env_file_gives_the_programs_the_exact_secrets(tmp_path):
    env_file = tmp_path / "raindrop.env"
    env_file.write_text(render.render("raindrop.env", variables()))
    env = sourced_env(env_file)

    assert env["RAINDROP_SECRET_KEY"] == SECRET_KEY
    db = urllib.parse.urlsplit(env["RAINDROP_DATABASE_URL"])
    assert (db.scheme, db.hostname, db.port, db.path, db.query) == (
        "mysql+pymysql",
        "127.0.0.1",
        3306,
        "/raindrop",
        "charset=utf8mb4",
    )
    assert urllib.parse.unquote(db.username) == "raindrop"
    assert urllib.parse.unquote(db.password) == DB_PASSWORD
    redis = urllib.parse.urlsplit(env["RAINDROP_REDIS_URL"])
    assert (redis.hostname, redis.port, redis.path) == ("127.0.0.1", 6379, "/0")
    assert urllib.parse.unquote(redis.password) == REDIS_PASSWORD
    assert urllib.parse.urlsplit(env["RAINDROP_BROKER_URL"]).path == "/1"
    assert env["RAINDROP_UPLOAD_DIR"] == "/srv/raindrop/shared/uploads"
    assert env["RAINDROP_UPLOAD_URL_PREFIX"] == "/static/uploads/"
    assert (env["RAINDROP_COOKIE_SECURE"], env["RAINDROP_FEED_CACHE"]) == ("0", "1")
    assert not any(key.startswith("RAINDROP_OSS_") for key in env)


def test_env_file_sets_oss_only_with_a_bucket(tmp_path):
    env_file = tmp_path / "raindrop.env"
    env_file.write_text(
        render.render(
            "raindrop.env",
            variables(
                raindrop_oss_bucket="rd-uploads",
                raindrop_oss_endpoint="oss-cn-qingdao.aliyuncs.com",
                raindrop_oss_access_key_id="LTAIkey",
                raindrop_oss_access_key_secret="s3cr$t",
                raindrop_oss_public_base="https://cdn.example.com",
                raindrop_cookie_secure=True,
                raindrop_feed_cache=False,
            ),
        )
    )
    env = sourced_env(env_file)
    assert env["RAINDROP_OSS_BUCKET"] == "rd-uploads"
    assert env["RAINDROP_OSS_ACCESS_KEY_SECRET"] == "s3cr$t"
    assert env["RAINDROP_OSS_PUBLIC_BASE"] == "https://cdn.example.com"
    assert (env["RAINDROP_COOKIE_SECURE"], env["RAINDROP_FEED_CACHE"]) == ("1", "0")


# --- nginx -----------------------------------------------------------------------------------------


# A path on which the stub upstream answers with the app's security headers, as gunicorn does on every path.
APP_HEADERS_PATH = "/api/with-app-headers"


class StubUpstream(http.server.ThreadingHTTPServer):
    """Stands in for gunicorn and supervisor: answers 200 and records what nginx passed on."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[dict] = []
        super().__init__(("127.0.0.1", port), self._Handler)

    class _Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.server.requests.append(
                {
                    "method": self.command,
                    "path": self.path,  # type: ignore[attr-defined]
                    "headers": dict(self.headers),
                    "length": length,
                }
            )
            body = json.dumps({"upstream": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if self.path.startswith(APP_HEADERS_PATH):
                # What the Flask app sends on every response (server/src/raindrop_server/security_headers.py).
                for name, value in API_SECURITY_HEADERS.items():
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass


class DyingUpstream(StubUpstream):
    """A gunicorn killed mid-request: reads the request, records it, and closes the connection unanswered."""

    class _Handler(StubUpstream._Handler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.server.requests.append({"method": self.command, "path": self.path})  # type: ignore[attr-defined]
            self.close_connection = True

        do_GET = do_POST = _answer


@contextlib.contextmanager
def serving(server: StubUpstream) -> Iterator[StubUpstream]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def stub_upstream() -> Iterator[StubUpstream]:
    with serving(StubUpstream()) as server:
        yield server


def consecutive_upstreams(*kinds: type[StubUpstream]) -> list[StubUpstream]:
    """Servers on consecutive ports, as the template numbers the gunicorn processes from the first port."""
    for _ in range(50):
        first = StubUpstream()
        port = first.server_address[1]
        first.server_close()
        servers: list[StubUpstream] = []
        try:
            for offset, kind in enumerate(kinds):
                servers.append(kind(port + offset))
            return servers
        except OSError:
            for server in servers:
                server.server_close()
    raise AssertionError("found no consecutive free ports")


def nginx_wrapper(tmp: Path, sites: list[Path]) -> Path:
    """The rendered nginx.conf (Debian's, with raised limits), its pid, logs and temp files moved to tmp and
    the rendered sites in place of sites-enabled, so the sites are checked in the http context of a host. The
    security-header files are rendered into tmp too, and the sites' includes of the snippet point there."""
    security_files = {}
    for spec in render.HOST_FILES:
        if spec.template.startswith("nginx-security-headers"):
            security_files[spec.template] = tmp / spec.template
            security_files[spec.template].write_text(render.render(spec.template, variables()))
            for site in sites:
                site.write_text(site.read_text().replace(spec.path, str(security_files[spec.template])))
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / sub).mkdir(exist_ok=True)
    temp_paths = "".join(
        f"\n\t{kind}_temp_path {tmp}/{sub};"
        for kind, sub in (
            ("client_body", "body"),
            ("proxy", "proxy"),
            ("fastcgi", "fastcgi"),
            ("uwsgi", "uwsgi"),
            ("scgi", "scgi"),
        )
    )
    replacements = {
        "user www-data;": "user root;",
        "pid /run/nginx.pid;": f"pid {tmp}/nginx.pid;",
        "error_log /var/log/nginx/error.log;": f"error_log {tmp}/error.log;",
        "access_log /var/log/nginx/access.log;": f"access_log {tmp}/access.log;{temp_paths}",
        "include /etc/nginx/conf.d/*.conf;": f"include {security_files['nginx-security-headers-http.conf']};",
        "include /etc/nginx/sites-enabled/*;": "".join(f"include {site};\n\t" for site in sites),
    }
    main = tmp / "nginx.rendered.conf"
    main.write_text(render.render("nginx.conf", variables()))
    return debian_conf(main, replacements, tmp / "nginx.conf")


def debian_conf(source: Path, replacements: dict[str, str], target: Path) -> Path:
    """A copy of one of Debian's main config files with its host paths swapped for the test's."""
    text = source.read_text()
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{source} no longer has exactly one {old!r}"
        text = text.replace(old, new)
    target.write_text(text)
    return target


def request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@contextlib.contextmanager
def running_nginx(tmp: Path, sites: list[Path], ports: list[int]) -> Iterator[None]:
    """nginx in the foreground with the rendered sites, once `nginx -t` accepts them; stopped on exit."""
    conf = nginx_wrapper(tmp, sites)
    check = run("nginx", "-t", "-c", conf)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-g", "daemon off;"])
    try:
        wait_until(lambda: all(port_open(p) for p in ports), f"nginx listening on {ports}")
        yield
    finally:
        stop(proc)


@pytest.fixture
def nginx_site(world_dir, stub_upstream) -> Iterator[tuple[int, Path]]:
    """nginx running the rendered site (client build, static and uploads in temp dirs), gunicorn stubbed."""
    client = world_dir / "client"
    static = world_dir / "lib" / "raindrop_server" / "static"
    uploads = world_dir / "uploads"
    for path in (client, static, uploads):
        path.mkdir(parents=True)
    (client / "index.html").write_text('<!doctype html><base href="/"><script src="main-5KCWSF7P.js"></script>')
    (client / "main-5KCWSF7P.js").write_text("console.log('raindrop');\n" * 200)
    (static / "app.css").write_text("body { margin: 0 }\n")
    (uploads / "cat.png").write_bytes(b"\x89PNG fake")

    port = free_port()
    site = world_dir / "site.conf"
    site.write_text(
        render.render(
            "nginx-site.conf",
            variables(
                raindrop_listen_address="127.0.0.1",
                raindrop_http_port=port,
                raindrop_gunicorn_first_port=stub_upstream.server_address[1],
                raindrop_gunicorn_processes=1,
                raindrop_client_root=str(client),
                raindrop_static_dir=str(static),
                raindrop_uploads_dir=str(uploads),
            ),
        )
    )
    with running_nginx(world_dir, [site], [port]):
        yield port, world_dir


def test_nginx_accepts_both_rendered_sites_with_several_gunicorns(tmp_path):
    site = tmp_path / "site.conf"
    admin = tmp_path / "admin.conf"
    site.write_text(render.render("nginx-site.conf", variables(raindrop_gunicorn_processes=2)))
    admin.write_text(render.render("nginx-admin.conf", variables()))
    check = run("nginx", "-t", "-c", nginx_wrapper(tmp_path, [site, admin]))
    assert check.returncode == 0, check.stderr
    assert "syntax is ok" in check.stderr


def test_nginx_serves_the_client_with_the_right_caching(nginx_site):
    port, _ = nginx_site
    response, body = request(port, "GET", "/")
    assert response.status == 200 and b"main-5KCWSF7P.js" in body
    assert response.getheader("Cache-Control") == "no-cache"
    assert response.getheader("Server") == "nginx"

    response, body = request(port, "GET", "/users/bob/posts")
    assert response.status == 200 and body.startswith(b"<!doctype html>")
    assert response.getheader("Cache-Control") == "no-cache"

    response, body = request(port, "GET", "/main-5KCWSF7P.js", headers={"Accept-Encoding": "gzip"})
    assert response.status == 200
    assert response.getheader("Content-Encoding") == "gzip"
    assert gzip.decompress(body).startswith(b"console.log('raindrop');")
    assert response.getheader("Cache-Control") == "public, max-age=31536000, immutable"

    # A hashed asset that is not there is a 404, not index.html served as JavaScript.
    response, _ = request(port, "GET", "/main-ZZZZZZZZ.js")
    assert response.status == 404


def test_nginx_serves_flask_static_and_shared_uploads(nginx_site):
    port, _ = nginx_site
    response, body = request(port, "GET", "/static/app.css")
    assert (response.status, body) == (200, b"body { margin: 0 }\n")
    response, body = request(port, "GET", "/static/uploads/cat.png")
    assert (response.status, body) == (200, b"\x89PNG fake")
    assert response.getheader("X-Content-Type-Options") == "nosniff"


def test_nginx_proxies_api_and_socketio_with_the_headers(nginx_site, stub_upstream):
    port, _ = nginx_site
    response, body = request(port, "GET", "/api/health?x=1", headers={"Host": "raindrop.test"})
    assert response.status == 200 and json.loads(body) == {"upstream": "/api/health?x=1"}
    seen = stub_upstream.requests[-1]["headers"]
    assert seen["Host"] == "raindrop.test"
    assert seen["X-Real-IP"] == "127.0.0.1"
    assert seen["X-Forwarded-For"] == "127.0.0.1"

    request(
        port, "GET", "/socket.io/?EIO=4&transport=websocket", headers={"Upgrade": "websocket", "Connection": "Upgrade"}
    )
    seen = stub_upstream.requests[-1]
    assert seen["path"] == "/socket.io/?EIO=4&transport=websocket"
    assert seen["headers"]["Upgrade"] == "websocket"
    assert seen["headers"]["Connection"] == "upgrade"


def _two_gunicorn_site(path: Path, port: int, first_port: int) -> Path:
    path.write_text(
        render.render(
            "nginx-site.conf",
            variables(
                raindrop_listen_address="127.0.0.1",
                raindrop_http_port=port,
                raindrop_gunicorn_first_port=first_port,
                raindrop_gunicorn_processes=2,
            ),
        )
    )
    return path


def test_nginx_retries_idempotent_requests_on_the_next_gunicorn_and_never_a_post(tmp_path):
    """Two gunicorn ports. One dies mid-request (a kill -9): a GET it took is answered by the other, a POST is
    not sent twice (it may have been applied) and gets 502. One where nothing listens (a process restarting):
    no request fails, since nothing was sent."""
    port = free_port()
    dying, alive = consecutive_upstreams(DyingUpstream, StubUpstream)
    site = _two_gunicorn_site(tmp_path / "site.conf", port, dying.server_address[1])
    with serving(dying), serving(alive), running_nginx(tmp_path, [site], [port]):
        gets = [request(port, "GET", f"/api/feed?n={n}") for n in range(4)]
        assert [(response.status, json.loads(body)) for response, body in gets] == [
            (200, {"upstream": f"/api/feed?n={n}"}) for n in range(4)
        ]
        # The dying one took one GET, which the other answered too; then it is left out for fail_timeout.
        assert len(dying.requests) == 1
        assert [r["path"] for r in alive.requests] == [f"/api/feed?n={n}" for n in range(4)]

    dying, alive = consecutive_upstreams(DyingUpstream, StubUpstream)
    site = _two_gunicorn_site(tmp_path / "site.conf", port, dying.server_address[1])
    with serving(dying), serving(alive), running_nginx(tmp_path, [site], [port]):
        posts = [request(port, "POST", "/api/posts", b"{}", {"Content-Type": "application/json"}) for _ in range(2)]
        assert sorted(response.status for response, _ in posts) == [200, 502]
        assert [r["method"] for r in dying.requests] == ["POST"]
        assert [r["method"] for r in alive.requests] == ["POST"]

    gone, alive = consecutive_upstreams(StubUpstream, StubUpstream)
    gone.server_close()
    site = _two_gunicorn_site(tmp_path / "site.conf", port, gone.server_address[1])
    with serving(alive), running_nginx(tmp_path, [site], [port]):
        answers = [request(port, method, "/api/posts", b"{}")[0].status for method in ("POST", "GET") * 2]
        assert answers == [200, 200, 200, 200]
        assert [r["method"] for r in alive.requests] == ["POST", "GET", "POST", "GET"]


def test_nginx_answers_a_too_large_upload_with_a_json_413(nginx_site, stub_upstream):
    port, _ = nginx_site
    response, _ = request(
        port,
        "POST",
        "/api/uploads",
        body=b"x" * (3 * 1024 * 1024),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status == 200
    assert stub_upstream.requests[-1]["length"] == 3 * 1024 * 1024

    before = len(stub_upstream.requests)
    response, body = request(
        port,
        "POST",
        "/api/uploads",
        body=b"x" * (4 * 1024 * 1024 + 1),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status == 413
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(body) == {"msg": "Request Entity Too Large(max=4M)"}
    assert len(stub_upstream.requests) == before


PAGE_HEADERS = render.security_headers(variables())


def security_header_values(response: http.client.HTTPResponse) -> dict[str, list[str]]:
    """Every value of each security header in the response (a header sent twice shows both)."""
    names = {name.lower() for name in PAGE_HEADERS}
    found: dict[str, list[str]] = {}
    for name, value in response.getheaders():
        if name.lower() in names:
            found.setdefault(name, []).append(value)
    return found


def test_the_page_headers_are_the_documented_policy():
    # The policy as config/defaults.yml documents it, spelled out once here so that a change to it is seen.
    assert PAGE_HEADERS == {
        "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }
    # The cloud mode's asset origin (a URL with a path is reduced to its origin) and the uploads' bucket.
    cloud = render.security_headers(variables(
        raindrop_csp_asset_origin="https://cdn.example.com/assets/",
        raindrop_oss_bucket="raindrop-b", raindrop_oss_public_base="https://raindrop-b.oss-cn-hangzhou.aliyuncs.com",
    ))
    assert cloud["Content-Security-Policy"] == (
        "default-src 'self'; script-src 'self' https://cdn.example.com; "
        "style-src 'self' 'unsafe-inline' https://cdn.example.com; "
        "img-src 'self' data: https://cdn.example.com https://raindrop-b.oss-cn-hangzhou.aliyuncs.com; "
        "font-src 'self' https://cdn.example.com; connect-src 'self'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    # The public base without a bucket configured is not an uploads origin.
    assert render.security_headers(variables(raindrop_oss_public_base="https://x.example.com")) == PAGE_HEADERS


def test_the_e2e_server_gets_the_same_headers_from_the_command_line():
    # client/e2e/run.mjs serves the build with what this prints: it must be the policy nginx is rendered with.
    printed = run(sys.executable, "-m", "app.render", "security-headers", cwd=render.CONFIG_DIR.parent)
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == PAGE_HEADERS


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"raindrop_csp_asset_origin": "cdn.example.com"}, "'raindrop_csp_asset_origin': 'cdn.example.com' is not"),
        ({"raindrop_csp_asset_origin": "javascript:alert(1)"}, "'raindrop_csp_asset_origin'"),
        ({"raindrop_csp": {"script-src": "'self'"}}, "script-src must be a list of sources"),
        ({"raindrop_csp": {"script-src": ["'self'; script-src *"]}}, "holds ; , $ or a quote"),
        ({"raindrop_csp": {"img-src": ["$host"]}}, "holds ; , $ or a quote"),
        ({"raindrop_csp": {"Script Src": ["'self'"]}}, "'Script Src' is not a directive name"),
    ],
)
def test_config_variables_refuses_a_bad_policy(given, message):
    with pytest.raises(render.ConfigError, match=re.escape(message)):
        variables(**given)


@pytest.mark.parametrize("mode", ["none", "offloaded", "acme", "provided"])
def test_every_location_with_its_own_add_header_includes_the_security_headers(tmp_path, mode):
    """nginx's add_header is not inherited into a location that has one of its own: each such location must
    include the snippet, or its responses lose every security header. Checked on the parsed rendered site and
    admin port, in every raindrop_tls mode (with TLS on the host the site has an http and an https server)."""
    values = variables(raindrop_tls=mode, raindrop_site_domain="raindrop.test")
    snippet = next(spec.path for spec in render.HOST_FILES if spec.template == "nginx-security-headers.conf")

    def includes_snippet(block: list[dict]) -> bool:
        return any(d["directive"] == "include" and d["args"] == [snippet] for d in block)

    checked: dict[str, list[str]] = {}
    for template in ("nginx-site.conf", "nginx-admin.conf"):
        path = tmp_path / template
        path.write_text(render.render(template, values))
        parsed = crossplane.parse(str(path), single=True, catch_errors=False, check_ctx=False, check_args=False)
        assert parsed["status"] == "ok", parsed["errors"]
        servers = [d for d in parsed["config"][0]["parsed"] if d["directive"] == "server"]
        assert servers
        checked[template] = []
        for server in servers:
            assert includes_snippet(server["block"]), f"a server of {template} without the security headers"
            for location in (d for d in server["block"] if d["directive"] == "location"):
                names = {d["args"][0].lower() for d in location["block"] if d["directive"] == "add_header"}
                if names:
                    checked[template].append(" ".join(location["args"]))
                    assert includes_snippet(location["block"]), f"location {location['args']} drops the headers"
                    # A location's own add_header never sets one of the snippet's headers a second time.
                    assert names.isdisjoint(name.lower() for name in PAGE_HEADERS), location["args"]
    # index.html and the hashed assets set Cache-Control: a check that ran on nothing would pass too.
    servers_of_the_site = 2 if mode in ("acme", "provided") else 1
    assert checked == {
        "nginx-site.conf": ["= /index.html", "~ " + values["raindrop_hashed_asset_regex"]] * servers_of_the_site,
        "nginx-admin.conf": [],
    }


@pytest.mark.parametrize("path", ["/", "/index.html", "/users/bob/posts", "/main-5KCWSF7P.js", "/main-ZZZZZZZZ.js",
                                  "/static/app.css", "/static/uploads/cat.png", "/api/health"])
def test_nginx_gives_every_response_the_page_headers_once(nginx_site, path):
    port, _ = nginx_site
    response, _ = request(port, "GET", path)
    assert response.status in {200, 404}
    assert security_header_values(response) == {name: [value] for name, value in PAGE_HEADERS.items()}


def test_nginx_keeps_the_apps_own_headers_on_the_api_and_adds_none(nginx_site):
    port, _ = nginx_site
    response, _ = request(port, "GET", APP_HEADERS_PATH)
    assert response.status == 200
    assert security_header_values(response) == {name: [value] for name, value in API_SECURITY_HEADERS.items()}


def test_nginx_gives_its_own_errors_the_page_headers(nginx_site):
    port, _ = nginx_site
    response, _ = request(port, "POST", "/api/uploads", body=b"x" * (4 * 1024 * 1024 + 1),
                          headers={"Content-Type": "application/octet-stream"})
    assert response.status == 413
    assert security_header_values(response) == {name: [value] for name, value in PAGE_HEADERS.items()}


# --- supervisor, and the admin port in front of its web UI ------------------------------------------

STUB_PROGRAM = """#!/bin/sh
# Stands in for gunicorn/celery: shows who runs it, with what, and what it got from the env file.
echo "user=$(id -un) args=$* secret=$RAINDROP_SECRET_KEY pythonpath=${PYTHONPATH:-} cwd=$(pwd)"
exec sleep 600
"""


@pytest.fixture
def supervisord(world_dir) -> Iterator[dict]:
    """supervisord (as root, like Debian's) running the rendered programs as nobody, with stub binaries."""
    venv_bin = world_dir / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    for program in ("gunicorn", "celery"):
        (venv_bin / program).write_text(STUB_PROGRAM)
        (venv_bin / program).chmod(0o755)
    current = world_dir / "current"
    current.mkdir()
    logs = world_dir / "log"
    logs.mkdir()
    port = free_port()
    first_gunicorn = free_port()
    given = {
        "raindrop_app_user": "nobody",
        "raindrop_app_group": "nogroup",
        "raindrop_current_dir": str(current),
        "raindrop_venv_dir": str(world_dir / "venv"),
        "raindrop_log_dir": str(logs),
        "raindrop_env_file": str(world_dir / "raindrop.env"),
        "raindrop_supervisor_port": port,
        "raindrop_gunicorn_processes": 2,
        "raindrop_gunicorn_first_port": first_gunicorn,
    }
    env_file = world_dir / "raindrop.env"
    env_file.write_text(render.render("raindrop.env", variables(**given)))
    env_file.chmod(0o644)  # the test's programs run as nobody; on a host it is 600 owner raindrop
    rendered = world_dir / "raindrop-supervisor.conf"
    rendered.write_text(render.render("supervisor.conf", variables(**given)))
    # Debian's own supervisord.conf, as on a host: supervisorctl talks to it over the unix socket.
    main = debian_conf(
        Path("/etc/supervisor/supervisord.conf"),
        {
            "file=/var/run/supervisor.sock": f"file={world_dir}/supervisor.sock",
            "serverurl=unix:///var/run/supervisor.sock": f"serverurl=unix://{world_dir}/supervisor.sock",
            "logfile=/var/log/supervisor/supervisord.log": f"logfile={world_dir}/supervisord.log",
            "pidfile=/var/run/supervisord.pid": f"pidfile={world_dir}/supervisord.pid",
            "childlogdir=/var/log/supervisor": f"childlogdir={logs}",
            "files = /etc/supervisor/conf.d/*.conf": f"files = {rendered}",
        },
        world_dir / "supervisord.conf",
    )
    proc = subprocess.Popen(
        ["supervisord", "--nodaemon", "--configuration", str(main)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ctl = ["supervisorctl", "--configuration", str(main)]
    try:
        wait_until(lambda: port_open(port), "supervisor's inet_http_server")
        yield {
            "port": port,
            "ctl": ctl,
            "logs": logs,
            "gunicorn_port": first_gunicorn,
            "current": current,
            "text": rendered.read_text(),
        }
    finally:
        run(*ctl, "shutdown")
        stop(proc)


def niceness(pid: int) -> int:
    # /proc/PID/stat's 19th field; the command name before it (in parentheses) may hold spaces.
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def supervisor_status(ctl: list[str]) -> dict[str, str]:
    out = run(*ctl, "status").stdout
    return {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}


def test_supervisor_runs_the_programs_as_the_app_user_with_the_env_file(supervisord):
    web = [f"raindrop-web:raindrop-web-{supervisord['gunicorn_port'] + i}" for i in range(2)]
    expected = {name: "RUNNING" for name in [*web, "raindrop-celery"]}
    wait_until(lambda: supervisor_status(supervisord["ctl"]) == expected, "every program RUNNING")

    for offset in range(2):
        port = supervisord["gunicorn_port"] + offset
        log = supervisord["logs"] / f"raindrop-web-{port}.log"
        line = wait_until(lambda log=log: log.exists() and log.read_text(), f"{log.name} written")
        assert "user=nobody " in line
        assert f"--bind 127.0.0.1:{port}" in line
        assert f"secret={SECRET_KEY} " in line
        assert f"cwd={supervisord['current']}" in line
    pids = {name: int(run(*supervisord["ctl"], "pid", name).stdout) for name in [*web, "raindrop-celery"]}
    # supervisord's minfds (merged into Debian's [supervisord]) is every program's open-file limit.
    for name, pid in pids.items():
        limits = Path(f"/proc/{pid}/limits").read_text()
        (soft,) = [line.split()[3] for line in limits.splitlines() if line.startswith("Max open files")]
        assert int(soft) >= 16384, (name, limits)
    # The worker yields the cores to the web processes (raindrop_celery_nice); nice execed it, so this is its pid.
    assert {name: niceness(pid) for name, pid in pids.items()} == {**{name: 0 for name in web}, "raindrop-celery": 10}
    line = wait_until(lambda: (supervisord["logs"] / "raindrop-celery.log").read_text(), "celery log")
    assert "user=nobody " in line
    assert "args=--app raindrop_server.worker:celery worker --pool gevent --concurrency 20" in line
    assert "pythonpath=/srv/raindrop/current/lib" in line


def test_supervisor_restarts_a_killed_program_and_stops_it_as_a_group(supervisord):
    ctl = supervisord["ctl"]
    wait_until(lambda: supervisor_status(ctl).get("raindrop-celery") == "RUNNING", "celery RUNNING")
    old_pid = int(run(*ctl, "pid", "raindrop-celery").stdout)
    os.kill(old_pid, signal.SIGKILL)
    new_pid = wait_until(
        lambda: supervisor_status(ctl).get("raindrop-celery") == "RUNNING"
        and int(run(*ctl, "pid", "raindrop-celery").stdout) != old_pid
        and int(run(*ctl, "pid", "raindrop-celery").stdout),
        "celery restarted after kill -9",
    )
    assert new_pid != old_pid
    # The names the deploy's reload uses (app/steps/host.py web_programs, worker_programs).
    for group in ("raindrop-web:*", "raindrop-celery:*"):
        status = run(*ctl, "status", group)
        assert status.returncode == 0 and "RUNNING" in status.stdout, status.stdout
    assert run(*ctl, "restart", "raindrop-celery:*").returncode == 0
    text = supervisord["text"]
    for directive in (
        "stopwaitsecs = 60",
        "stopasgroup = true",
        "killasgroup = true",
        "autorestart = true",
        "redirect_stderr = true",
    ):
        assert text.count(directive) == 2, directive


def test_supervisor_web_ui_needs_the_password(supervisord):
    port = supervisord["port"]
    response, _ = request(port, "GET", "/")
    assert response.status == 401
    response, body = request(port, "GET", "/", headers=basic("admin", ADMIN_PASSWORD))
    assert response.status == 200 and b"Supervisor" in body


@pytest.fixture
def nginx_admin(world_dir, supervisord) -> Iterator[dict]:
    """nginx's admin site in front of the running supervisord: one server allowing loopback, one not."""
    htpasswd = world_dir / "admin.htpasswd"
    htpasswd.write_text(render.htpasswd_line("admin", ADMIN_PASSWORD))
    ports = {"allowed": free_port(), "denied": free_port()}
    sites = []
    for kind, cidrs in (("allowed", ["127.0.0.0/8"]), ("denied", ["192.0.2.0/24"])):
        site = world_dir / f"admin-{kind}.conf"
        site.write_text(
            render.render(
                "nginx-admin.conf",
                variables(
                    raindrop_listen_address="127.0.0.1",
                    raindrop_admin_port=ports[kind],
                    raindrop_admin_cidrs=cidrs,
                    raindrop_admin_htpasswd_file=str(htpasswd),
                    raindrop_supervisor_port=supervisord["port"],
                ),
            )
        )
        sites.append(site)
    with running_nginx(world_dir, sites, list(ports.values())):
        yield ports


def test_admin_port_asks_for_the_admin_password(nginx_admin):
    port = nginx_admin["allowed"]
    response, _ = request(port, "GET", "/")
    assert response.status == 401
    assert response.getheader("WWW-Authenticate") == 'Basic realm="Raindrop admin"'
    response, _ = request(port, "GET", "/", headers=basic("admin", "wrong"))
    assert response.status == 401
    response, body = request(port, "GET", "/", headers=basic("admin", ADMIN_PASSWORD))
    assert response.status == 200
    assert b"Supervisor" in body and b"raindrop-celery" in body


def test_admin_port_refuses_addresses_outside_the_admin_cidrs(nginx_admin):
    response, _ = request(nginx_admin["denied"], "GET", "/", headers=basic("admin", ADMIN_PASSWORD))
    assert response.status == 403


# --- gunicorn ------------------------------------------------------------------------------------------

STUB_WSGI = """from gevent import monkey

monkey.patch_all()

import gc  # noqa: E402
import os  # noqa: E402
import pathlib  # noqa: E402

import preload_probe  # noqa: E402, F401

RELEASE = {release!r}
with (pathlib.Path(__file__).parent / "wsgi.pids").open("a") as pids:
    pids.write(f"{{os.getpid()}}\\n")


def app(environ, start_response):
    websocket = environ.get("wsgi.websocket")  # set by gevent-websocket's worker on an Upgrade
    if websocket is not None:
        websocket.send(RELEASE + ":" + websocket.receive())
        return []
    start_response("200 OK", [("Content-Type", "text/plain")])
    if environ["PATH_INFO"] == "/gc":  # how many objects are frozen, whether this function is one, the thresholds
        frozen, walked = gc.get_freeze_count(), any(o is app for o in gc.get_objects())
        return [f"{{frozen}} {{not walked}} {{','.join(map(str, gc.get_threshold()))}}".encode()]
    return [RELEASE.encode()]
"""


# A stand-in third-party library: it records which processes imported it.
PRELOAD_PROBE = """import os
import pathlib

with (pathlib.Path(__file__).parent / "preload_probe.pids").open("a") as pids:
    pids.write(f"{os.getpid()}\\n")
"""


def make_release(root: Path, name: str) -> Path:
    """A release whose lib/ holds a stand-in raindrop_server.wsgi that answers with the release's name.

    Its modules import the stand-in library `preload_probe` (from the venv's place, `deps/`) and, in a module
    nothing uses, a library that is not installed.
    """
    package = root / "releases" / name / "lib" / "raindrop_server"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "wsgi.py").write_text(STUB_WSGI.format(release=name))
    (package / "unused.py").write_text("import raindrop_not_installed  # noqa: F401\n")
    # The real module: gunicorn.conf.py's post_worker_init puts its handler in front of the worker's.
    shutil.copy(wsgi_handler.__file__, package / "wsgi_handler.py")
    deps = root / "deps"
    deps.mkdir(exist_ok=True)
    (deps / "preload_probe.py").write_text(PRELOAD_PROBE)
    return package.parent.parent


def pids_in(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def switch_current(root: Path, release: Path) -> None:
    """The deploy's atomic switch: a new symlink under a temp name renamed over `current`."""
    tmp_link = root / "current.tmp"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(release)
    os.replace(tmp_link, root / "current")


def http_body(port: int, path: str = "/api/health") -> bytes | None:
    try:
        return request(port, "GET", path)[1]
    except OSError:
        return None


@pytest.fixture
def gunicorn(world_dir) -> Iterator[dict]:
    """The real gunicorn with the rendered gunicorn.conf.py, serving release r1 through `current`."""
    releases = {name: make_release(world_dir, name) for name in ("r1", "r2")}
    switch_current(world_dir, releases["r1"])
    port = free_port()
    conf = world_dir / "gunicorn.conf.py"
    conf.write_text(
        render.render(
            "gunicorn.conf.py",
            variables(
                raindrop_current_dir=str(world_dir / "current"),
                raindrop_server_pythonpath=str(world_dir / "current" / "lib"),
                raindrop_gunicorn_first_port=port,
            ),
        )
    )
    log_path = world_dir / "gunicorn.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "--config", str(conf)],
            cwd=world_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(world_dir / "deps")},
        )
        try:
            assert wait_until(lambda: http_body(port), "gunicorn serving") == b"r1"
            yield {"port": port, "proc": proc, "root": world_dir, "releases": releases, "conf": conf, "log": log_path}
        finally:
            stop(proc)


def test_gunicorn_check_config_accepts_the_rendered_file(gunicorn):
    # --check-config loads the app before gunicorn applies its `pythonpath` setting (gunicorn's
    # Application.run), so this one check gets the same path through PYTHONPATH.
    check = run(
        VENV_BIN / "gunicorn",
        "--check-config",
        "--config",
        gunicorn["conf"],
        cwd=gunicorn["root"],
        env={**os.environ, "PYTHONPATH": f"{gunicorn['root'] / 'current' / 'lib'}:{gunicorn['root'] / 'deps'}"},
    )
    assert check.returncode == 0, check.stderr
    log = gunicorn["log"].read_text()
    assert "Using worker: geventwebsocket.gunicorn.workers.GeventWebSocketWorker" in log
    assert f"Listening at: http://127.0.0.1:{gunicorn['port']}" in log


def test_gunicorn_master_preloads_the_libraries_before_it_listens_and_never_the_app(gunicorn):
    """A restarted process should keep its port closed while the slow imports run (nginx then goes elsewhere at
    once): the master runs the app's third-party imports before it binds; the app itself loads in the worker."""
    master = gunicorn["proc"].pid
    release = gunicorn["releases"]["r1"] / "lib" / "raindrop_server"
    [worker] = pids_in(release / "wsgi.pids")
    assert worker != master
    # The master imported the library; the worker found it already loaded (forked), so only the master wrote.
    assert pids_in(gunicorn["root"] / "deps" / "preload_probe.pids") == [master]
    lines = gunicorn["log"].read_text().splitlines()
    preloaded = [i for i, line in enumerate(lines) if line.startswith("raindrop: the master preloaded")]
    listening = [i for i, line in enumerate(lines) if "Listening at:" in line]
    assert len(preloaded) == 1 and len(listening) == 1 and preloaded[0] < listening[0], lines
    # gevent's, the standard library's and the probe's imports run; the uninstalled one fails, and the master starts.
    assert re.fullmatch(
        r"raindrop: the master preloaded 6 import statements of raindrop_server \(1 failed\) in \d+\.\d\d s",
        lines[preloaded[0]],
    ), lines[preloaded[0]]


def test_gunicorn_worker_freezes_the_loaded_app_out_of_the_collector(gunicorn):
    """A full collection should not walk the app's own objects (modules, functions), which are never garbage: the
    worker freezes them once the app is loaded, says how many, and makes full collections rarer."""
    frozen, app_frozen, thresholds = http_body(gunicorn["port"], "/gc").decode().split()
    # gc.get_objects() lists what the collector walks: the app's function is not among them.
    assert int(frozen) > 1000 and app_frozen == "True"
    # Python's own thresholds for the young generations; a full collection after 100 of generation 1, not 10.
    assert thresholds == "700,10,100"
    lines = gunicorn["log"].read_text().splitlines()
    froze = [line for line in lines if "raindrop: the worker froze" in line]
    assert len(froze) == 1 and froze[0].endswith(
        f"raindrop: the worker froze {frozen} objects of the loaded app out of the collector"
    ), froze


def test_gunicorn_worker_serves_with_joined_writes_in_front_of_its_handler(gunicorn):
    """post_worker_init wraps the worker class's own handler (geventwebsocket's), so websockets keep working."""
    assert http_body(gunicorn["port"]) == b"r1"
    lines = gunicorn["log"].read_text().splitlines()
    serves = [line.partition("raindrop: ")[2] for line in lines if "raindrop: the worker serves with" in line]
    assert serves == ["the worker serves with JoinedWebSocketHandler"], serves


def test_gunicorn_reloads_the_new_release_on_hup(gunicorn):
    """chdir and pythonpath go through the `current` symlink, so a HUP serves the release it points to now."""
    switch_current(gunicorn["root"], gunicorn["releases"]["r2"])
    gunicorn["proc"].send_signal(signal.SIGHUP)
    assert wait_until(lambda: http_body(gunicorn["port"]) == b"r2", "gunicorn serving r2 after HUP")
    # The new worker imported the new release's code itself, in a process other than the master.
    assert pids_in(gunicorn["releases"]["r2"] / "lib" / "raindrop_server" / "wsgi.pids")[0] != gunicorn["proc"].pid
    # ... and froze its own app, as the first worker did.
    assert http_body(gunicorn["port"], "/gc").decode().split()[1] == "True"


def test_websocket_reaches_gunicorn_through_nginx(gunicorn):
    """nginx's /socket.io/ location upgrades the connection, and the rendered worker class speaks WebSocket."""
    port = free_port()
    site = gunicorn["root"] / "site.conf"
    site.write_text(
        render.render(
            "nginx-site.conf",
            variables(
                raindrop_listen_address="127.0.0.1",
                raindrop_http_port=port,
                raindrop_gunicorn_first_port=gunicorn["port"],
                raindrop_client_root=str(gunicorn["root"]),
            ),
        )
    )
    with running_nginx(gunicorn["root"], [site], [port]):
        assert http_body(port, "/api/health") == b"r1"
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket", timeout=10)
        try:
            ws.send("hello")
            assert ws.recv() == "r1:hello"
        finally:
            ws.close()


# --- MariaDB -------------------------------------------------------------------------------------------


@pytest.fixture
def mariadb(tmp_path) -> Iterator[dict]:
    """mariadbd on a spare port with the rendered my.cnf and a fresh data dir in tmp."""
    port = free_port()
    rendered = tmp_path / "60-raindrop.cnf"
    rendered.write_text(render.render("my.cnf", variables(raindrop_db_port=port)))
    socket_path = tmp_path / "mysqld.sock"
    wrapper = tmp_path / "my.cnf"
    wrapper.write_text(f"""!include {rendered}
[mysqld]
datadir = {tmp_path}/data
socket = {socket_path}
pid-file = {tmp_path}/mysqld.pid
log-error = {tmp_path}/mysqld.err
user = root
[client]
socket = {socket_path}
""")
    install = run(
        "mariadb-install-db", f"--defaults-file={wrapper}", "--auth-root-authentication-method=socket", "--skip-test-db"
    )
    assert install.returncode == 0, install.stdout + install.stderr
    proc = subprocess.Popen(
        ["mariadbd", f"--defaults-file={wrapper}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(lambda: socket_path.exists() and port_open(port), "mariadbd listening", attempts=300)
        yield {"port": port, "wrapper": wrapper, "err": tmp_path / "mysqld.err"}
    finally:
        stop(proc)


def test_mariadb_runs_with_the_rendered_my_cnf(mariadb):
    query = (
        "SELECT @@bind_address, @@port, @@character_set_server, @@collation_server, "
        "@@innodb_buffer_pool_size, @@max_connections, @@performance_schema"
    )
    out = run("mariadb", f"--defaults-file={mariadb['wrapper']}", "--batch", "--skip-column-names", "-e", query)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        "127.0.0.1",
        str(mariadb["port"]),
        "utf8mb4",
        "utf8mb4_unicode_ci",
        str(128 * 1024 * 1024),
        "200",
        "0",
    ]
    # The client sections make the mariadb client speak utf8mb4 too.
    out = run(
        "mariadb",
        f"--defaults-file={mariadb['wrapper']}",
        "--batch",
        "--skip-column-names",
        "-e",
        "SELECT @@character_set_client",
    )
    assert out.stdout.strip() == "utf8mb4"
    assert "[ERROR]" not in mariadb["err"].read_text()


# --- Redis ---------------------------------------------------------------------------------------------


def test_redis_runs_with_the_rendered_conf_needs_the_password_and_persists(tmp_path):
    port = free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(
        render.render(
            "redis.conf",
            variables(
                raindrop_redis_port=port,
                raindrop_redis_dir=str(tmp_path),
                raindrop_redis_pidfile=str(tmp_path / "redis.pid"),
                raindrop_redis_logfile=str(tmp_path / "redis.log"),
            ),
        )
    )

    def cli(*args: str, password: str | None = REDIS_PASSWORD) -> str:
        env = {**os.environ, "REDISCLI_AUTH": password} if password else os.environ
        out = run("redis-cli", "-h", "127.0.0.1", "-p", str(port), *args, env=env)
        return (out.stderr + out.stdout).strip()

    def start() -> subprocess.Popen:
        # In the foreground, as Debian's systemd unit runs it (the file says `daemonize yes` for init.d).
        proc = subprocess.Popen(
            ["redis-server", str(conf), "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(lambda: port_open(port), "redis-server listening")
        return proc

    assert re.search(r"^daemonize yes$", conf.read_text(), re.M)
    proc = start()
    try:
        assert cli("PING", password=None).startswith("NOAUTH")
        assert "WRONGPASS" in cli("PING", password="wrong")
        assert cli("PING") == "PONG"
        assert cli("CONFIG", "GET", "bind").splitlines() == ["bind", "127.0.0.1 -::1"]
        assert cli("CONFIG", "GET", "appendonly").splitlines() == ["appendonly", "yes"]
        assert cli("CONFIG", "GET", "maxmemory-policy").splitlines() == ["maxmemory-policy", "noeviction"]
        assert cli("CONFIG", "GET", "save").splitlines()[1] == "3600 1 300 100 60 10000"
        assert cli("SET", "raindrop:probe", "kept") == "OK"
    finally:
        stop(proc)
    proc = start()
    try:
        assert cli("GET", "raindrop:probe") == "kept"
    finally:
        stop(proc)


# --- logrotate -----------------------------------------------------------------------------------------


def test_logrotate_accepts_the_rendered_file_and_reopens_supervisor_logs(tmp_path):
    logs = tmp_path / "log"
    logs.mkdir()
    (logs / "raindrop-web-10000.log").write_text("a request\n")
    supervisord_stand_in = subprocess.Popen(["sleep", "600"])
    pidfile = tmp_path / "supervisord.pid"
    pidfile.write_text(f"{supervisord_stand_in.pid}\n")
    conf = tmp_path / "raindrop.logrotate"
    conf.write_text(
        render.render(
            "logrotate",
            variables(
                raindrop_log_dir=str(logs),
                raindrop_supervisord_pidfile=str(pidfile),
                raindrop_app_user="nobody",
                raindrop_app_group="nogroup",
            ),
        )
    )
    state = tmp_path / "logrotate.state"
    try:
        debug = run("logrotate", "--debug", "--state", state, conf)
        assert debug.returncode == 0, debug.stderr
        assert "error" not in debug.stderr.lower()
        assert f"rotating pattern: {logs}/*.log" in debug.stderr

        forced = run("logrotate", "--force", "--state", state, conf)
        assert forced.returncode == 0, forced.stderr
        rotated = sorted(p.name for p in logs.iterdir())
        assert len(rotated) == 2 and rotated[0] == "raindrop-web-10000.log"
        assert (logs / rotated[1]).read_text() == "a request\n"
        fresh = logs / "raindrop-web-10000.log"
        assert fresh.stat().st_size == 0
        assert (fresh.stat().st_uid, oct(fresh.stat().st_mode & 0o777)) == (65534, "0o640")
        # postrotate sent USR2, which a plain `sleep` does not handle: it died of it.
        assert supervisord_stand_in.wait(timeout=10) == -signal.SIGUSR2
    finally:
        stop(supervisord_stand_in)


DEBIAN_NGINX_CONF = Path("/etc/nginx/nginx.conf")


def test_nginx_main_config_raises_debians_connection_limits(tmp_path):
    text = render.render("nginx.conf", variables())
    assert re.search(r"^\tworker_connections 8192;$", text, re.M)
    assert re.search(r"^worker_rlimit_nofile 16384;$", text, re.M)
    debian = DEBIAN_NGINX_CONF.read_text()
    # Everything else is Debian's: the same includes, so conf.d, modules and sites keep working.
    for line in ("include /etc/nginx/modules-enabled/*.conf;", "include /etc/nginx/conf.d/*.conf;",
                 "include /etc/nginx/sites-enabled/*;", "include /etc/nginx/mime.types;", "user www-data;"):
        assert line in debian and line in text
    conf = nginx_wrapper(tmp_path, [])
    result = run("nginx", "-t", "-c", str(conf))
    assert result.returncode == 0, result.stderr


# --- the systemd drop-in of supervisor.service -------------------------------------------------------------
DEBIAN_SUPERVISOR_UNIT = Path("/lib/systemd/system/supervisor.service")


def verify_supervisor_dropin(tmp_path: Path, dropin: str) -> subprocess.CompletedProcess:
    """systemd-analyze verify of Debian's supervisor.service with `dropin` as its raindrop-service.conf."""
    units = tmp_path / "units"
    (units / "supervisor.service.d").mkdir(parents=True)
    shutil.copy(DEBIAN_SUPERVISOR_UNIT, units / "supervisor.service")
    (units / "supervisor.service.d/raindrop-service.conf").write_text(dropin)
    # The trailing colon keeps systemd's own unit directories after ours (for the units it depends on).
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:"}
    return subprocess.run(["systemd-analyze", "verify", "--man=no", str(units / "supervisor.service")],
                          capture_output=True, text=True, env=env, check=False)  # fmt: skip


def test_supervisor_dropin_raises_the_open_file_limit_and_kills_orphans_and_systemd_accepts_it(tmp_path):
    text = render.render("supervisor-service.conf", variables())
    settings = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert settings == [
        "[Unit]", "After=mariadb.service redis-server.service", "[Service]", "LimitNOFILE=65536", "KillMode=mixed",
    ]
    # What the drop-in overrides: Debian's unit leaves a killed supervisord's programs running.
    assert "KillMode=process" in DEBIAN_SUPERVISOR_UNIT.read_text().splitlines()
    result = verify_supervisor_dropin(tmp_path, text)
    assert (result.returncode, result.stderr) == (0, "")
    # The same check does read the drop-in: a value systemd cannot parse is reported.
    broken = verify_supervisor_dropin(tmp_path / "broken", text.replace("65536", "lots"))
    assert "Failed to parse resource value" in broken.stderr


# --- the backup's settings file and systemd units --------------------------------------------------------
def test_backup_conf_gives_bash_the_exact_values(tmp_path):
    odd_dir = "/srv/rain drop/back'ups $x"
    conf = tmp_path / "backup.conf"
    conf.write_text(render.render("backup.conf", variables(
        raindrop_backup_dir=odd_dir, raindrop_backup_keep=4, raindrop_backup_oss_bucket="raindrop-dev-abc",
        raindrop_backup_oss_endpoint="https://oss-cn-hangzhou-internal.aliyuncs.com",
        raindrop_backup_oss_ram_role="raindrop-backup")))
    names = ("BACKUP_DIR", "BACKUP_KEEP", "BACKUP_LOCK_WAIT", "DB_NAME", "UPLOADS_DIR", "REDIS_PORT",
             "REDIS_CACHE_DB", "OSS_ENDPOINT", "OSS_BUCKET", "OSS_PREFIX", "OSS_RAM_ROLE")
    script = f'. "{conf}"; ' + "; ".join(f'printf "%s\\n" "${name}"' for name in names)
    result = run("bash", "-euc", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        odd_dir, "4", "600", "raindrop", "/srv/raindrop/shared/uploads", "6379", "0",
        "https://oss-cn-hangzhou-internal.aliyuncs.com", "raindrop-dev-abc", "backups/", "raindrop-backup",
    ]


def test_systemd_accepts_the_backup_service_and_timer(tmp_path):
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing: apt-get install systemd"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "raindrop-backup").write_text("#!/bin/sh\n")
    (bin_dir / "raindrop-backup").chmod(0o755)
    values = variables(raindrop_bin_dir=str(bin_dir), raindrop_backup_time="22:05")
    for name in ("raindrop-backup.service", "raindrop-backup.timer"):
        (tmp_path / name).write_text(render.render(name, values))
    result = run("systemd-analyze", "verify", tmp_path / "raindrop-backup.service", tmp_path / "raindrop-backup.timer")
    assert result.returncode == 0, result.stdout + result.stderr
    timer = (tmp_path / "raindrop-backup.timer").read_text()
    assert "OnCalendar=*-*-* 22:05:00 UTC\n" in timer and "Persistent=true\n" in timer
    assert f"ExecStart={bin_dir}/raindrop-backup daily\n" in (tmp_path / "raindrop-backup.service").read_text()


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"raindrop_backup_time": "3:30"}, "'raindrop_backup_time': '3:30' is not a time of day HH:MM"),
        ({"raindrop_backup_time": "24:00"}, "'raindrop_backup_time': '24:00' is not a time of day HH:MM"),
        ({"raindrop_backup_keep": 0}, "'raindrop_backup_keep' must be at least 1"),
        ({"raindrop_backup_oss_prefix": "backups"}, "'raindrop_backup_oss_prefix': 'backups' must be a key prefix"),
    ],
)
def test_backup_settings_are_checked_naming_the_variable(given, message):
    with pytest.raises(render.ConfigError, match=re.escape(message)):
        variables(**given)


# --- HTTPS: every raindrop_tls mode, checked by nginx and systemd ---------------------------------------------
TLS_MODES = ("none", "offloaded", "acme", "provided")
HSTS = "max-age=63072000"


def throwaway_tls_dir(tmp: Path, real: bool = True) -> Path:
    """What raindrop-tls prepares on a host, in tmp: a live self-signed certificate, dhparam, the state include."""
    tls = tmp / "tls"
    (tls / "live").mkdir(parents=True)
    made = run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
               "-days", "2", "-subj", "/CN=raindrop.test", "-addext", "subjectAltName=DNS:raindrop.test",
               "-keyout", tls / "live/privkey.pem", "-out", tls / "live/fullchain.pem")  # fmt: skip
    assert made.returncode == 0, made.stderr
    dh = run("openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048",
             "-out", tls / "dhparam.pem")  # fmt: skip
    assert dh.returncode == 0, dh.stderr
    (tls / "certificate-state.conf").write_text(f"set $raindrop_certificate {'real' if real else 'stand-in'};\n")
    return tls


def tls_values(tmp: Path, mode: str, **overrides) -> dict:
    return variables(raindrop_tls=mode, raindrop_site_domain="raindrop.test", raindrop_tls_dir=str(tmp / "tls"),
                     raindrop_nginx_tls_snippet=str(tmp / "raindrop-tls.conf"), **overrides)


def write_tls_sites(tmp: Path, values: dict) -> list[Path]:
    (tmp / "raindrop-tls.conf").write_text(render.render("nginx-tls.conf", values))
    site, admin = tmp / "site.conf", tmp / "admin.conf"
    site.write_text(render.render("nginx-site.conf", values))
    admin.write_text(render.render("nginx-admin.conf", values))
    return [site, admin]


@pytest.mark.parametrize("mode", TLS_MODES)
def test_nginx_accepts_both_sites_in_every_tls_mode(tmp_path, mode):
    throwaway_tls_dir(tmp_path)
    values = tls_values(tmp_path, mode)
    sites = write_tls_sites(tmp_path, values)
    check = run("nginx", "-t", "-c", nginx_wrapper(tmp_path, sites))
    assert check.returncode == 0, check.stderr
    site, admin = (path.read_text() for path in sites)
    on_host = mode in ("acme", "provided")
    assert ("listen 443 ssl http2 default_server;" in site) is on_host
    assert (f"listen {values['raindrop_admin_port']} ssl;" in admin) is on_host
    assert ("error_page 497 =301 https://$host:$server_port$request_uri;" in admin) is on_host
    # HSTS wherever browsers arrive over https: the host's :443, or :80 behind the TLS-ending load balancer.
    assert (f'add_header Strict-Transport-Security "{HSTS}" always;' in site) is (mode != "none")
    assert ("proxy_set_header X-Forwarded-Proto https;" in site) is (mode == "offloaded")


def test_tls_snippet_is_mozillas_intermediate_profile():
    text = render.render("nginx-tls.conf", variables())
    directives = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert directives == [
        "ssl_certificate /etc/raindrop/tls/live/fullchain.pem;",
        "ssl_certificate_key /etc/raindrop/tls/live/privkey.pem;",
        "ssl_session_timeout 1d;",
        "ssl_session_cache shared:RaindropTLS:10m;",
        "ssl_session_tickets off;",
        "ssl_dhparam /etc/raindrop/tls/dhparam.pem;",
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
        "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305;",
        "ssl_prefer_server_ciphers off;",
    ]


def https_request(port: int, path: str, source: str = "127.0.0.2") -> tuple[http.client.HTTPResponse, bytes]:
    """GET over TLS (the throwaway certificate is not trusted: the test checks nginx, not the chain)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return _get(http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=context,
                                            source_address=(source, 0)), path)


def http_from(port: int, path: str, source: str) -> tuple[http.client.HTTPResponse, bytes]:
    """GET over plain http from `source` (127.0.0.2 is not the host itself to the site's loopback rule)."""
    return _get(http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0)), path)


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[http.client.HTTPResponse, bytes]:
    try:
        conn.request("GET", path, headers={"Host": "raindrop.test"})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("certificate", ["real", "stand-in"])
def test_acme_site_redirects_only_with_a_real_certificate_and_serves_https_with_hsts(
        world_dir, stub_upstream, certificate):
    tls = throwaway_tls_dir(world_dir, real=certificate == "real")
    client, webroot = world_dir / "client", world_dir / "acme"
    client.mkdir()
    (client / "index.html").write_text('<!doctype html><base href="/">')
    (webroot / ".well-known/acme-challenge").mkdir(parents=True)
    (webroot / ".well-known/acme-challenge/token123").write_text("token123.thumbprint")
    ports = {name: free_port() for name in ("http", "https", "admin")}
    values = tls_values(
        world_dir, "acme", raindrop_listen_address="127.0.0.1", raindrop_http_port=ports["http"],
        raindrop_https_port=ports["https"], raindrop_admin_port=ports["admin"], raindrop_client_root=str(client),
        raindrop_acme_webroot=str(webroot), raindrop_gunicorn_first_port=stub_upstream.server_address[1],
        raindrop_gunicorn_processes=1, raindrop_supervisor_port=stub_upstream.server_address[1],
    )  # fmt: skip
    assert tls.is_dir()
    with running_nginx(world_dir, write_tls_sites(world_dir, values), list(ports.values())):
        response, _ = http_from(ports["http"], "/users/bob?x=1", "127.0.0.2")
        if certificate == "real":
            assert response.status == 301
            assert response.getheader("Location") == f"https://raindrop.test:{ports['https']}/users/bob?x=1"
        else:  # before a real certificate, :80 serves the site itself
            assert response.status == 200
        # ACME's challenges and the host's own requests (the health check) always stay on http.
        response, body = http_from(ports["http"], "/.well-known/acme-challenge/token123", "127.0.0.2")
        assert (response.status, body) == (200, b"token123.thumbprint")
        response, _ = http_from(ports["http"], "/api/health", "127.0.0.1")
        assert response.status == 200
        # https: the site with HSTS, also on a location with an add_header of its own, and the API.
        response, body = https_request(ports["https"], "/")
        assert response.status == 200 and b'<base href="/">' in body
        assert response.getheader("Strict-Transport-Security") == HSTS
        assert response.getheader("Cache-Control") == "no-cache"
        response, _ = https_request(ports["https"], "/api/health")
        assert response.status == 200 and response.getheader("Strict-Transport-Security") == HSTS
        assert stub_upstream.requests[-1]["headers"]["X-Forwarded-Proto"] == "https"
        # The admin port speaks TLS only: plain http is sent to https, never proxied.
        before = len(stub_upstream.requests)
        response, _ = http_from(ports["admin"], "/", "127.0.0.1")
        assert response.status == 301
        assert response.getheader("Location") == f"https://raindrop.test:{ports['admin']}/"
        assert len(stub_upstream.requests) == before
        response, _ = https_request(ports["admin"], "/", source="127.0.0.1")
        assert response.status == 401  # TLS answered; basic auth asks next


@pytest.mark.parametrize(("mode", "secure"), [("none", "0"), ("offloaded", "1"), ("acme", "1"), ("provided", "1")])
def test_env_file_marks_the_cookie_secure_unless_tls_is_none(tmp_path, mode, secure):
    env_file = tmp_path / "raindrop.env"
    env_file.write_text(render.render("raindrop.env", variables(raindrop_tls=mode, raindrop_site_domain="a.example")))
    result = run("sh", "-c", f'. "{env_file}"; printf %s "$RAINDROP_COOKIE_SECURE"')
    assert result.stdout == secure


def test_tls_conf_gives_bash_the_exact_values(tmp_path):
    conf = tmp_path / "tls.conf"
    conf.write_text(render.render("tls.conf", variables(
        raindrop_tls="acme", raindrop_site_domain="www.example.com", raindrop_acme_email="ops@example.com",
        raindrop_acme_directory="https://acme-staging-v02.api.letsencrypt.org/directory",
        raindrop_acme_ca_bundle="/etc/raindrop/acme-ca.pem", raindrop_https_port=8443)))
    names = ("TLS_MODE", "SITE_DOMAIN", "ACME_EMAIL", "ACME_DIRECTORY", "ACME_CA_BUNDLE", "ACME_WEBROOT", "TLS_DIR",
             "HTTPS_PORT")
    result = run("bash", "-euc", f'. "{conf}"; ' + "; ".join(f'printf "%s\\n" "${n}"' for n in names))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "acme", "www.example.com", "ops@example.com", "https://acme-staging-v02.api.letsencrypt.org/directory",
        "/etc/raindrop/acme-ca.pem", "/var/www/raindrop-acme", "/etc/raindrop/tls", "8443",
    ]


@pytest.mark.parametrize("bundle", ["", "/etc/raindrop/acme-ca.pem"])
def test_systemd_accepts_the_certbot_dropin(tmp_path, bundle):
    units = tmp_path / "units"
    (units / "certbot.service.d").mkdir(parents=True)
    shutil.copy("/lib/systemd/system/certbot.service", units / "certbot.service")
    text = render.render("certbot-service.conf", variables(raindrop_acme_ca_bundle=bundle))
    (units / "certbot.service.d/raindrop.conf").write_text(text)
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:"}
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(units / "certbot.service")],
                            capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    settings = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert settings == ["[Service]", *([f"Environment=REQUESTS_CA_BUNDLE={bundle}"] if bundle else [])]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"raindrop_tls": "https"}, "'raindrop_tls': 'https' is not one of acme, provided, offloaded, none"),
        ({"raindrop_tls": "acme"}, "'raindrop_site_domain' must be set for raindrop_tls 'acme'"),
        ({"raindrop_site_domain": "Example.COM"}, "'raindrop_site_domain': 'Example.COM' is not a lowercase DNS"),
        ({"raindrop_site_domain": "bad_name.example"}, "'raindrop_site_domain': 'bad_name.example' is not"),
        ({"raindrop_acme_email": "ops"}, "'raindrop_acme_email': 'ops' is not an e-mail address"),
        ({"raindrop_acme_directory": "http://ca.example/dir"}, "'raindrop_acme_directory': 'http://ca.example/dir' is"),
        ({"raindrop_acme_ca_bundle": "ca.pem"}, "'raindrop_acme_ca_bundle': 'ca.pem' must be an absolute path"),
        ({"raindrop_https_port": 80}, "must be three different ports, not 80, 80, 8090"),
        ({"raindrop_https_port": 70000}, "'raindrop_https_port': 70000 is not a TCP port"),
        ({"raindrop_hsts_max_age": -1}, "'raindrop_hsts_max_age' must be 0 or more seconds"),
        ({"raindrop_tls_certificate": "x\ny"}, None),  # PEM texts span lines: accepted
    ],
)
def test_tls_settings_are_checked_naming_the_variable(given, message):
    if message is None:
        assert variables(**given)["raindrop_tls_certificate"] == "x\ny"
        return
    with pytest.raises(render.ConfigError, match=re.escape(message)):
        variables(**given)
