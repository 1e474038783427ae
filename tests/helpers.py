"""Builders, stubs and sample values that several test modules share (never imported from a test module).

- a small offline server project, an sdist-only index and a client build, and `Fixture` that builds release
  bundles from them (tests/test_release.py, the host-step runs in tests/test_steps.py);
- the host steps' sample secrets, bundle, template values and `config()`, and the recorder stubs that stand in
  for supervisorctl, nginx, curl, … on a scratch host (tests/test_steps.py, tests/test_backup.py);
- `FakeOss`, an OSS stand-in on loopback (tests/test_publish.py, tests/test_backup_oss.py).
"""

from __future__ import annotations

import base64
import tarfile
import urllib.parse
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from app.release import PackageSources, build_release
from app.steps import Bundle, HostConfig, HostFile

# --- release sources ----------------------------------------------------------------------------------------

def hatch_pyproject(name: str, version: str, wheel: str, project: str = "") -> str:
    """A hatchling project's pyproject.toml: `project` adds to its [project] table, `wheel` is the wheel target's."""
    return (
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\nrequires-python = ">=3.11"\n{project}\n'
        f"[tool.hatch.build.targets.wheel]\n{wheel}\n"
    )


SERVER_PYPROJECT = hatch_pyproject(
    "raindrop-server", "0.1.0", 'packages = ["src/raindrop_server"]',
    'dependencies = ["rdtestdep==1.0"]\n\n[project.optional-dependencies]\ntest = ["pytest"]\n\n'
    '[project.scripts]\nraindrop = "raindrop_server.cli:main"\n',
)

# The fixture server's CLI: `raindrop db upgrade` records that it ran, as whom, with which database URL.
SERVER_CLI = """\
import getpass
import os
import sys


def main():
    with open(os.environ["RAINDROP_TEST_LOG"], "a") as log:
        log.write(f"{' '.join(sys.argv[1:])} user={getpass.getuser()} db={os.environ.get('RAINDROP_DATABASE_URL')}\\n")
"""

def dep_pyproject(name: str) -> str:
    """An sdist-only dependency: one module, {name}.py."""
    return hatch_pyproject(name, "1.0", f'include = ["{name}.py"]')


def write_server_project(root: Path, version_note: str = "one") -> Path:
    """A minimal server project shaped like server/: src layout, console script, static files."""
    package = root / "src" / "raindrop_server"
    (package / "static").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(SERVER_PYPROJECT)
    (package / "__init__.py").write_text(f'NOTE = "{version_note}"\n')
    (package / "cli.py").write_text(SERVER_CLI)
    (package / "static" / "app.css").write_text("body { color: black; }\n")
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    return root


def write_sdist(index: Path, name: str) -> None:
    """Publish `name` 1.0 into the find-links directory `index` as an sdist only (no wheel anywhere)."""
    source = index.parent / "src" / f"{name}-1.0"
    source.mkdir(parents=True)
    (source / "pyproject.toml").write_text(dep_pyproject(name))
    (source / f"{name}.py").write_text("VALUE = 42\n")
    (source / "PKG-INFO").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    index.mkdir(parents=True, exist_ok=True)
    with tarfile.open(index / f"{name}-1.0.tar.gz", "w:gz") as archive:
        archive.add(source, arcname=f"{name}-1.0")


def write_sdist_only_index(root: Path) -> Path:
    """A find-links directory holding rdtestdep 1.0 as an sdist only."""
    index = root / "index"
    write_sdist(index, "rdtestdep")
    return index


def write_client_build(root: Path, main_js: str = "console.log(1);\n") -> Path:
    build = root / "browser"
    (build / "media").mkdir(parents=True, exist_ok=True)
    (build / "index.html").write_text(
        '<!doctype html><html><head><base href="/"><link rel="stylesheet" href="styles-AAAAAAAA.css">'
        '</head><body><app-root></app-root><script src="main-BBBBBBBB.js" type="module"></script></body></html>\n'
    )
    (build / "main-BBBBBBBB.js").write_text(main_js)
    (build / "styles-AAAAAAAA.css").write_text("body{margin:0}\n")
    (build / "media" / "logo-CCCCCCCC.svg").write_text("<svg/>\n")
    (build / "favicon.ico").write_bytes(b"\0\1\2")
    return build


class Fixture:
    """Sources for offline release builds: server project, sdist-only index, client build, cache."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.server = write_server_project(root / "server")
        self.index = write_sdist_only_index(root / "pkgs")
        self.client = write_client_build(root / "client")
        self.cache = root / "cache"
        self.sources = PackageSources(find_links=(self.index,), no_index=True, build_isolation=False)

    def build(self, out: Path | str = "dist"):
        return build_release(
            server_dir=self.server,
            client_dir=self.client,
            out_dir=self.root / out,
            cache_dir=self.cache,
            sources=self.sources,
            server_build_isolation=False,
        )


# --- host steps ---------------------------------------------------------------------------------------------

SECRETS = {
    "db_password": "Db-pass.word_0123456789",
    "redis_password": "Redis-pass.word_0123456789",
    "admin_password": "Admin-pass.word_0123456789",
    "secret_key": "Secret-key.0123456789abcdefghij",
}
BUNDLE = Bundle(hash="0123456789abcdef", deps_hash="fedcba9876543210", sha256="ab" * 32)
TEMPLATE_VALUES = {"raindrop_admin_cidrs": ["10.0.0.0/8"]}


def config(**overrides) -> HostConfig:
    return HostConfig.from_defaults(
        system_files=(HostFile("/etc/mysql/mariadb.conf.d/60-raindrop.cnf", "[mysqld]\n", restart="mariadb"),),
        app_files=(HostFile("/etc/nginx/sites-available/raindrop.conf", "server { listen 80; }\n"),),
        **overrides,
    )


STUBS = {
    # Every stub records its arguments; the log shows what the scripts asked the services to do.
    "supervisorctl": """
echo "supervisorctl $*" >> "$STUB_LOG"
if [ "$1" = status ]; then echo "raindrop-web:raindrop-web-10000   RUNNING   pid 1, uptime 0:00:09"; fi
if [ "$1" = pid ]; then echo 999999999; fi
""",
    "nginx": 'echo "nginx $*" >> "$STUB_LOG"',
    "service": 'echo "service $*" >> "$STUB_LOG"',
    # Healthy unless the live release's client build holds an UNHEALTHY file.
    "curl": """
echo "curl $*" >> "$STUB_LOG"
[ ! -e "$STUB_CURRENT/client/UNHEALTHY" ]
""",
    # runuser -u USER -- COMMAND...: run COMMAND (the scratch tree has no app user to switch to).
    "runuser": """
echo "runuser $*" >> "$STUB_LOG"
while [ "$1" != -- ]; do shift; done
shift
exec "$@"
""",
}


def stub_bin(root: Path, stubs: dict[str, str]) -> Path:
    """root/stub-bin holding an executable bash script per stub, to put first on a scratch host's PATH."""
    directory = root / "stub-bin"
    directory.mkdir(parents=True)
    for name, body in stubs.items():
        (directory / name).write_text(f"#!/bin/bash\n{body.strip()}\n")
        (directory / name).chmod(0o755)
    return directory


# --- OSS ----------------------------------------------------------------------------------------------------

BUCKET = "raindrop-static"
NO_SUCH_KEY = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code>'
    "<Message>The specified key does not exist.</Message><RequestId>fake</RequestId></Error>"
)


class FakeOss(BaseHTTPRequestHandler):
    """HEAD (objectMeta) and PUT of objects, kept in `self.server.objects`; every request is recorded."""

    def _key(self) -> str:
        path = self.path.split("?", 1)[0]
        bucket, _, key = path.lstrip("/").partition("/")
        assert bucket == BUCKET
        return urllib.parse.unquote(key)  # oss2 percent-encodes the key, '/' included

    def _record(self) -> None:
        self.server.requests.append((self.command, self._key(), dict(self.headers)))

    def _reply(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"x-oss-request-id": "fake", "Content-Length": "0", **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()

    def do_HEAD(self) -> None:
        self._record()
        if self._key() in self.server.objects:
            self._reply(200, {"ETag": '"fake"'})
        else:
            # Real OSS answers a HEAD error with the error document base64'd in x-oss-err.
            self._reply(404, {"x-oss-err": base64.b64encode(NO_SUCH_KEY.encode()).decode()})

    def do_PUT(self) -> None:
        self._record()
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            body = b""
            while (size := int(self.rfile.readline().strip(), 16)) > 0:
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.objects[self._key()] = (body, dict(self.headers))
        self._reply(200, {"ETag": '"fake"'})

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass
