"""End-to-end: a fresh sandbox host, provisioned and deployed with the host steps, then used over HTTP.

Needs root (the sandbox), the client build and the release bundle's wheelhouse (app/release.py). Traffic
goes to the sandbox's address only (and apt's, through its proxy, to the Debian mirror).

RAINDROP_E2E_KEEP=1 keeps the host after the run; RAINDROP_E2E_REUSE=1 then runs against it again.

Figures (seconds from a fresh host to healthy, for a redeploy, for recovery) are printed at the end of
the run and written to e2e-figures.json beside the sandbox's files; nothing asserts on them except
the functional 10 s bound of recovery.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
import requests

from app.sandbox.deploy import deploy, host_secrets
from app.sandbox.host import Sandbox
from app.sandbox.settings import SandboxSettings

# RAINDROP_E2E_NAME / RAINDROP_E2E_SUBNET put a second run (another checkout) on a host of its own.
E2E_NAME = os.environ.get("RAINDROP_E2E_NAME", "rde2e")
E2E_SUBNET = os.environ.get("RAINDROP_E2E_SUBNET", "10.213.4.0/30")
ROOT = Path(__file__).resolve().parents[2]
FIGURES: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("e2e figures (seconds)")
        for name, seconds in FIGURES.items():
            terminalreporter.write_line(f"{name}: {seconds:.1f}")


def record(name: str, seconds: float) -> None:
    FIGURES[name] = round(seconds, 1)
    print(f"e2e figure: {name} = {seconds:.1f}s", flush=True)


@pytest.fixture(scope="session")
def figure():
    """record(name, seconds): a figure printed at the end of the run."""
    return record


@pytest.fixture(scope="session")
def release():
    from app.release import build_release

    return build_release()


@pytest.fixture(scope="session")
def sandbox():
    host = Sandbox(SandboxSettings(name=E2E_NAME, subnet=E2E_SUBNET), log=lambda message: print(message, flush=True))
    yield host
    if FIGURES:
        (host.settings.state_root / "e2e-figures.json").write_text(json.dumps(FIGURES, indent=2) + "\n")
    if os.environ.get("RAINDROP_E2E_KEEP") != "1":
        host.down()


@pytest.fixture(scope="session")
def site(sandbox, release):
    """A fresh host with the current release deployed: what `make sandbox` prints last."""
    # RAINDROP_E2E_REUSE=1 (with RAINDROP_E2E_KEEP=1 on the run before) reuses the kept host to iterate on
    # the tests; the figure for a fresh host is then not taken.
    reuse = os.environ.get("RAINDROP_E2E_REUSE") == "1" and sandbox.exists
    started = time.monotonic()
    sandbox.up_host(fresh=not reuse)
    info = deploy(sandbox, release=release)
    if not reuse:
        record("fresh host to healthy", time.monotonic() - started)
    return info


@pytest.fixture(scope="session")
def base_url(site):
    return site["url"].rstrip("/")


@pytest.fixture(scope="session")
def ssh(site, sandbox):
    with sandbox.executor(echo=lambda _line: None) as executor:
        yield executor


@pytest.fixture(scope="session")
def secrets(site, sandbox):
    return host_secrets(sandbox)


def _variant_client(tmp_root: Path, marker: str) -> Path:
    """The current client build plus one marker file, so a release differs in content but not in kind."""
    from app.release import client_build

    client = tmp_root / f"client-{marker}"
    shutil.copytree(client_build(), client)
    (client / "e2e-marker.txt").write_text(marker + "\n")
    return client


@pytest.fixture(scope="session")
def changed_release(tmp_path_factory):
    """Another release of the same code: only its content hash (and a marker served by nginx) differs."""
    from app.release import build_release

    root = tmp_path_factory.mktemp("changed")
    return build_release(client_dir=_variant_client(root, "changed"), out_dir=root / "dist")


@pytest.fixture(scope="session")
def broken_release(tmp_path_factory):
    """A release whose server cannot start: its WSGI module raises on import, so the health gate fails."""
    from app.release import SERVER_DIR, build_release

    root = tmp_path_factory.mktemp("broken")
    server = root / "server"
    shutil.copytree(SERVER_DIR, server, ignore=shutil.ignore_patterns(".pytest_cache", "__pycache__", "tests", "bench"))
    wsgi = server / "src/raindrop_server/wsgi.py"
    wsgi.write_text(wsgi.read_text() + '\nraise RuntimeError("e2e: this release is broken on purpose")\n')
    return build_release(server_dir=server, client_dir=_variant_client(root, "broken"), out_dir=root / "dist")


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


MIGRATION = '''"""e2e: an additive migration, so a deploy of this release runs migrations (and backs up first)

Revision ID: 9001
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("e2e_backup_marker", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("e2e_backup_marker")
'''


@pytest.fixture(scope="session")
def migration_release(tmp_path_factory):
    """The current code plus one new Alembic migration (a new table): its deploy must run migrations."""
    from app.release import SERVER_DIR, build_release

    root = tmp_path_factory.mktemp("migration")
    server = root / "server"
    shutil.copytree(SERVER_DIR, server, ignore=shutil.ignore_patterns(".pytest_cache", "__pycache__", "tests", "bench"))
    (server / "src/raindrop_server/migrations/versions/9001_e2e_backup_marker.py").write_text(MIGRATION)
    return build_release(server_dir=server, client_dir=_variant_client(root, "migration"), out_dir=root / "dist")
