"""The release bundle: deterministic bytes, the right contents, a hash that follows the sources.

Built offline from a small server project (hatchling, like server/, from this venv) that depends on
a package published only as an sdist, so the wheelhouse's build-from-sdist path runs for real too.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from helpers import Fixture, write_client_build, write_sdist, write_server_project

from app.release import (
    ReleaseError,
    build_release,
    build_server_wheel,
    normalize_wheel,
    open_release,
    wheel_requirements,
)


@pytest.fixture(scope="module")
def fixture(tmp_path_factory) -> Fixture:
    return Fixture(tmp_path_factory.mktemp("release"))


@pytest.fixture(scope="module")
def first(fixture):
    return fixture.build("dist-a")


def test_same_sources_give_the_same_bytes_and_hash(fixture, first):
    # Source mtimes move (a fresh checkout); the bundle must not.
    for path in fixture.server.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    second = fixture.build("dist-b")
    assert second.hash == first.hash
    assert second.deps_hash == first.deps_hash
    assert second.path.name == f"raindrop-{first.hash}.tar.gz"
    assert second.path.read_bytes() == first.path.read_bytes()
    assert second.sha256 == first.sha256


def test_bundle_lists_wheels_client_and_hashes(first):
    with tarfile.open(first.path) as archive:
        members = {m.name: m for m in archive.getmembers()}
        names = list(members)
        deps_hash = archive.extractfile("DEPS_HASH").read().decode().strip()
        lock = archive.extractfile("wheels/deps/requirements.txt").read().decode()
    assert names == sorted(names)
    assert {
        "BUNDLE.json",
        "DEPS_HASH",
        "wheels/app/raindrop_server-0.1.0-py3-none-any.whl",
        "wheels/deps/rdtestdep-1.0-py3-none-any.whl",
        "wheels/deps/requirements.txt",
        "client/index.html",
        "client/main-BBBBBBBB.js",
        "client/media/logo-CCCCCCCC.svg",
    } <= set(names)
    assert lock == "rdtestdep==1.0\n"
    assert deps_hash == first.deps_hash
    for member in members.values():
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "root", "root")
        assert member.mtime == 315532800
        assert member.mode == (0o755 if member.isdir() else 0o644)


def test_gzip_header_has_no_name_and_no_time(first):
    header = first.path.read_bytes()[:10]
    assert header[:3] == b"\x1f\x8b\x08"
    assert header[3] == 0  # FLG: no FNAME, no comment
    assert header[4:8] == b"\0\0\0\0"  # MTIME


def test_server_wheel_is_normalised_and_leaves_no_build_leftovers(fixture, first):
    with tarfile.open(first.path) as archive:
        wheel_bytes = archive.extractfile("wheels/app/raindrop_server-0.1.0-py3-none-any.whl").read()
    with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as wheel:
        infos = wheel.infolist()
        names = [i.filename for i in infos]
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert names[-1].endswith(".dist-info/RECORD")
        assert "raindrop_server/static/app.css" in names
        assert not any(n.startswith("tests/") for n in names)
    assert not list(fixture.server.glob("*.egg-info")) and not (fixture.server / "build").exists()


def test_hash_follows_server_and_client_sources_but_deps_hash_only_deps(fixture, first, tmp_path):
    changed_server = Fixture(tmp_path)
    write_server_project(changed_server.server, version_note="two")
    server_changed = changed_server.build()
    assert server_changed.hash != first.hash
    assert server_changed.deps_hash == first.deps_hash

    write_client_build(changed_server.client, main_js="console.log(2);\n")
    client_changed = changed_server.build("dist-client")
    assert client_changed.hash not in (first.hash, server_changed.hash)
    assert client_changed.deps_hash == first.deps_hash


def test_existing_bundle_is_reused_not_rewritten(fixture, first):
    before = first.path.stat().st_mtime_ns
    again = fixture.build("dist-a")
    assert again.path == first.path
    assert first.path.stat().st_mtime_ns == before


def test_wheel_requirements_drop_extras(first, tmp_path):
    with tarfile.open(first.path) as archive:
        archive.extract("wheels/app/raindrop_server-0.1.0-py3-none-any.whl", tmp_path, filter="data")
    wheel = tmp_path / "wheels/app/raindrop_server-0.1.0-py3-none-any.whl"
    assert wheel_requirements(wheel) == ["rdtestdep==1.0"]


def test_normalize_wheel_keeps_it_installable(first, tmp_path):
    with tarfile.open(first.path) as archive:
        archive.extractall(tmp_path, filter="data")
    wheel = next((tmp_path / "wheels/app").glob("*.whl"))
    normalize_wheel(wheel)  # idempotent
    target = tmp_path / "lib"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--target", str(target), wheel],
        check=True,
    )
    assert (target / "raindrop_server" / "cli.py").is_file()
    assert (target / "bin" / "raindrop").is_file()


def test_missing_pyproject_and_bad_client_are_named(tmp_path):
    with pytest.raises(ReleaseError, match=r"no pyproject\.toml"):
        build_server_wheel(tmp_path, tmp_path / "out")
    (tmp_path / "client").mkdir()
    fixture = Fixture(tmp_path / "f")
    with pytest.raises(ReleaseError, match=r"has no index\.html"):
        build_release(
            server_dir=fixture.server,
            client_dir=tmp_path / "client",
            out_dir=tmp_path / "dist",
            cache_dir=fixture.cache,
            sources=fixture.sources,
            server_build_isolation=False,
        )


def test_dependencies_only_the_targets_python_needs_are_included(tmp_path):
    # pip evaluates markers with the interpreter it runs on (3.11.7 here); Debian 12 runs 3.11.2.
    fixture = Fixture(tmp_path)
    write_sdist(fixture.index, "rdoldpy")
    pyproject = fixture.server / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            '"rdtestdep==1.0"',
            '"rdtestdep==1.0", "rdoldpy==1.0; python_full_version < \'3.11.3\'", '
            '"rdnever==1.0; python_version >= \'3.12\'"',
        )
    )
    release = fixture.build()
    assert "wheels/deps/rdoldpy-1.0-py3-none-any.whl" in release.entries
    assert not any("rdnever" in name for name in release.entries)
    with tarfile.open(release.path) as archive:
        assert archive.extractfile("wheels/deps/requirements.txt").read().decode() == "rdoldpy==1.0\nrdtestdep==1.0\n"


def test_unknown_dependency_fails_with_pips_reason(tmp_path):
    fixture = Fixture(tmp_path)
    pyproject = fixture.server / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"rdtestdep==1.0"', '"rdtestdep==9.9"'))
    with pytest.raises(ReleaseError, match=r"rdtestdep==9\.9"):
        fixture.build()


def test_cli_names_a_bad_client_dir(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "app.release", "--client-dir", str(tmp_path / "nothing"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )
    assert result.returncode == 1
    assert "has no index.html" in result.stderr
    assert result.stdout == ""


def test_system_tar_reads_the_bundle(first):
    listing = subprocess.run(["tar", "-tzf", first.path], capture_output=True, text=True, check=True).stdout
    assert listing.splitlines()[0] == "BUNDLE.json"
    assert "wheels/deps/rdtestdep-1.0-py3-none-any.whl" in listing.splitlines()


def test_open_release_reads_back_the_same_hashes(first, tmp_path):
    assert open_release(first.path) == first
    renamed = tmp_path / "raindrop-0000000000000000.tar.gz"
    renamed.write_bytes(first.path.read_bytes())
    with pytest.raises(ReleaseError, match="does not match its content hash"):
        open_release(renamed)
    junk = tmp_path / "raindrop-1111111111111111.tar.gz"
    junk.write_bytes(b"not a tarball")
    with pytest.raises(ReleaseError, match="not a readable"):
        open_release(junk)
