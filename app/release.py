"""The release bundle: dist/raindrop-<contenthash>.tar.gz, everything a host needs to run one release.

    wheels/app/raindrop_server-*.whl    the server, built from server/
    wheels/deps/*.whl                   every runtime dependency for Debian 12 / CPython 3.11 / x86_64
    wheels/deps/requirements.txt        name==version of each, for `pip install --no-index`
    client/                             the client's production build
    DEPS_HASH                           names the host's shared venv (same deps, same venv)
    BUNDLE.json                         what is inside, for people

Deterministic: sorted entries, fixed mtimes, uid/gid 0, fixed modes, gzip without name or timestamp, and
the server wheel rewritten the same way, so the same sources give the same bytes and the same hash. The
content hash is taken over the entries before the tarball is written, so an existing bundle is reused
without writing it again.

    python -m app.release [--client-dir DIR] [--out DIR]    prints the bundle's path
"""

from __future__ import annotations

import argparse
import email.parser
import fcntl
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging import tags
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from app.steps.host import Bundle

ROOT = Path(__file__).resolve().parent.parent
SERVER_DIR = ROOT / "server"
CLIENT_DIR = ROOT / "client"
CLIENT_BUILD = CLIENT_DIR / "dist" / "raindrop" / "browser"
DIST_DIR = ROOT / "dist"
CACHE_DIR = ROOT / ".cache" / "wheelhouse"

# The target host: Debian 12 (glibc 2.36), CPython 3.11, x86_64. pip expands manylinux2014 to the older
# tags itself but not the manylinux_2_X names, so they are listed down to 2_17 (= manylinux2014).
PYTHON_VERSION = "3.11"
# linux_x86_64 comes last: no index serves it, only wheels built here from sdists (see _build_from_sdist).
PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(36, 16, -1)),
    "manylinux2014_x86_64",
    "linux_x86_64",
)
ABIS = ("cp311", "abi3", "none")
TARGET_TAGS = frozenset(
    tags.cpython_tags((3, 11), abis=list(ABIS), platforms=list(PLATFORMS))
) | frozenset(tags.compatible_tags((3, 11), "cp311", platforms=list(PLATFORMS)))

# Environment markers as Debian 12's python3 sees them. pip evaluates markers with the interpreter it runs
# on, not the --python-version it is given, so a `python_full_version < "3.11.3"` dependency (redis needs
# async-timeout so) would be missed when building on a newer 3.11; missing_on_target() finds those.
TARGET_MARKERS = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.2",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_full_version": "3.11.2",
    "python_version": "3.11",
    "sys_platform": "linux",
}

# 1980-01-01, the earliest time a zip entry can hold; used for the tar entries too.
FIXED_TIME = 315532800
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
# What a source copy of server/ leaves out: build leftovers never belong in a wheel.
SERVER_IGNORE = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".pytest_cache", "*.egg-info", "build", "dist", ".venv", "tests", "bench"
)


class ReleaseError(RuntimeError):
    """A release cannot be built; the message names the step and the cause."""


@dataclass(frozen=True)
class Release:
    """A built bundle on local disk and its hashes."""

    path: Path
    hash: str  # over the entries: names the bundle and the host's release directory
    deps_hash: str  # over the dependency wheels: names the host's venv
    sha256: str  # of the .tar.gz bytes: checked on the host before unpacking
    entries: tuple[str, ...] = field(default=(), compare=False)

    @property
    def bundle(self) -> Bundle:
        """What the host steps need to know about this release."""
        return Bundle(hash=self.hash, deps_hash=self.deps_hash, sha256=self.sha256)


def _log(message: str) -> None:
    print(f"release: {message}", file=sys.stderr, flush=True)


def _run(argv: Sequence[str], what: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ReleaseError(f"{what} failed ({' '.join(argv[:4])} ...):\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the server wheel -------------------------------------------------------------------------------------


def normalize_wheel(path: Path) -> None:
    """Rewrite a wheel in place with sorted entries, one fixed timestamp and fixed modes.

    The files inside are unchanged, so RECORD (which holds their hashes, not times) stays valid; only the
    zip's own metadata, which backends fill from the clock or the checkout, is made constant.
    """
    with zipfile.ZipFile(path) as source:
        members = [(info, source.read(info)) for info in source.infolist() if not info.is_dir()]

    def order(item: tuple[zipfile.ZipInfo, bytes]) -> tuple[int, int, str]:
        name = item[0].filename
        in_dist_info = ".dist-info/" in name
        return (in_dist_info, in_dist_info and name.endswith("/RECORD"), name)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for info, data in sorted(members, key=order):
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            executable = (info.external_attr >> 16) & 0o111
            fixed.external_attr = (0o100755 if executable else 0o100644) << 16
            fixed.create_system = 3
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, data, compresslevel=9)
    path.write_bytes(buffer.getvalue())


def build_server_wheel(server_dir: Path, out_dir: Path, *, build_isolation: bool = True) -> Path:
    """Build the server wheel from a clean copy of `server_dir` (the checkout gets no build leftovers)."""
    if not (server_dir / "pyproject.toml").is_file():
        raise ReleaseError(f"no pyproject.toml in {server_dir}: not a Python project to build the server wheel from")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="raindrop-server-src-") as scratch:
        source = Path(scratch) / "server"
        shutil.copytree(server_dir, source, ignore=SERVER_IGNORE)
        wheel_dir = Path(scratch) / "wheel"
        argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(wheel_dir)]
        if not build_isolation:
            argv.append("--no-build-isolation")
        env_epoch = {"SOURCE_DATE_EPOCH": str(FIXED_TIME)}
        result = subprocess.run(
            [*argv, str(source)], capture_output=True, text=True, check=False, env={**os.environ, **env_epoch}
        )
        if result.returncode != 0:
            raise ReleaseError(f"building the server wheel from {server_dir} failed:\n{result.stderr[-3000:]}")
        (wheel,) = wheel_dir.glob("*.whl")
        target = out_dir / wheel.name
        shutil.move(wheel, target)
    normalize_wheel(target)
    return target


def _metadata_requirements(wheel: Path) -> list[Requirement]:
    """Every Requires-Dist of a wheel, extras and markers included."""
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.parser.Parser().parsestr(archive.read(metadata_name).decode())
    return [Requirement(line) for line in metadata.get_all("Requires-Dist") or []]


def wheel_requirements(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist, without the ones that only an extra asks for."""
    requirements = [
        str(r) for r in _metadata_requirements(wheel) if r.marker is None or "extra" not in str(r.marker)
    ]
    return sorted(requirements)


# --- the wheelhouse -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageSources:
    """Where pip finds packages: PyPI (the default) or, offline, only local directories."""

    find_links: tuple[Path, ...] = ()
    no_index: bool = False
    # Build sdists with the packages already in this environment (offline builds need it).
    build_isolation: bool = True

    def pip_args(self) -> list[str]:
        args = ["--no-index"] if self.no_index else []
        for directory in self.find_links:
            args += ["--find-links", str(directory)]
        return args


_NO_BINARY = re.compile(r"No matching distribution found for (\S+)")


def _target_args() -> list[str]:
    args = ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp"]
    for platform in PLATFORMS:
        args += ["--platform", platform]
    for abi in ABIS:
        args += ["--abi", abi]
    return args


def _build_from_sdist(requirement: str, built_dir: Path, sources: PackageSources) -> Path:
    """Build one sdist-only requirement into a wheel, and check the target host can install it."""
    _log(f"{requirement} has no wheel for the target: building it from its sdist")
    with tempfile.TemporaryDirectory(prefix="raindrop-sdist-") as scratch:
        argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-binary", ":all:", "--quiet"]
        argv += ["--wheel-dir", scratch, *sources.pip_args()]
        if not sources.build_isolation:
            argv.append("--no-build-isolation")
        _run([*argv, requirement], f"building {requirement} from its sdist")
        built = sorted(Path(scratch).glob("*.whl"))
        if len(built) != 1:
            raise ReleaseError(f"building {requirement} from its sdist gave {len(built)} wheels, expected one")
        _name, _version, _build, wheel_tags = parse_wheel_filename(built[0].name)
        if not wheel_tags & TARGET_TAGS:
            raise ReleaseError(
                f"{built[0].name} (built here from {requirement}) does not install on Debian 12 / CPython 3.11 / "
                "x86_64: build the release on such a machine"
            )
        normalize_wheel(built[0])
        return Path(shutil.move(built[0], built_dir / built[0].name))


def download_wheelhouse(requirements: Sequence[str], out_dir: Path, sources: PackageSources) -> list[Path]:
    """Every wheel `requirements` need on the target, sdist-only ones built here when the platform allows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    built_dir = out_dir.parent / f"{out_dir.name}-built"
    built_dir.mkdir(exist_ok=True)
    tried: set[str] = set()
    while True:
        argv = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(out_dir), *_target_args()]
        argv += [*sources.pip_args(), "--find-links", str(built_dir), *requirements]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            break
        missing = _NO_BINARY.search(result.stderr)
        if not missing or missing.group(1) in tried:
            raise ReleaseError(f"downloading the dependency wheels failed:\n{result.stderr[-3000:]}")
        tried.add(missing.group(1))
        _build_from_sdist(missing.group(1), built_dir, sources)
    wheels = sorted(out_dir.glob("*.whl"))
    strays = sorted(p.name for p in out_dir.iterdir() if p.suffix != ".whl")
    if strays:
        raise ReleaseError(f"the wheelhouse holds files that are not wheels: {strays}")
    return wheels


def _applies_on_target(requirement: Requirement, extras: Iterable[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({**TARGET_MARKERS, "extra": extra}) for extra in [*extras, ""])


def _without_marker(requirement: Requirement) -> str:
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f"{requirement.name}{extras}{requirement.specifier}"


def missing_on_target(roots: Sequence[str], wheels: Sequence[Path]) -> list[str]:
    """Requirements the target host needs (markers evaluated for it) that no wheel in `wheels` provides."""
    by_name = {canonicalize_name(parse_wheel_filename(w.name)[0]): w for w in wheels}
    queue: list[tuple[Requirement, tuple[str, ...]]] = [(Requirement(r), ()) for r in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    missing: set[str] = set()
    while queue:
        requirement, parent_extras = queue.pop()
        if not _applies_on_target(requirement, parent_extras):
            continue
        name = canonicalize_name(requirement.name)
        wheel = by_name.get(name)
        if wheel is None:
            missing.add(_without_marker(requirement))
            continue
        version = str(parse_wheel_filename(wheel.name)[1])
        if not requirement.specifier.contains(version, prereleases=True):
            raise ReleaseError(f"{wheel.name} does not satisfy {requirement}, which the target host needs")
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        queue.extend((dependency, tuple(requirement.extras)) for dependency in _metadata_requirements(wheel))
    return sorted(missing)


def wheelhouse(requirements: Sequence[str], sources: PackageSources, cache_dir: Path = CACHE_DIR) -> list[Path]:
    """The dependency wheels, from the cache when these requirements were resolved before."""
    key_text = json.dumps(
        {"requirements": list(requirements), "target": _target_args(), "markers": TARGET_MARKERS, "format": 2}
    )
    key = _sha256(key_text.encode())[:16]
    directory = cache_dir / key
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Several builds may share the cache (tests, the sandbox, a developer): one fills it, the others wait.
    with (cache_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (directory / ".complete").is_file():
            _log(f"wheelhouse reused from {directory}")
            return sorted(directory.glob("*.whl"))
        return _fill_wheelhouse(requirements, sources, directory, key_text)


def _fill_wheelhouse(
    requirements: Sequence[str], sources: PackageSources, directory: Path, key_text: str
) -> list[Path]:
    shutil.rmtree(directory, ignore_errors=True)
    shutil.rmtree(directory.parent / f"{directory.name}-built", ignore_errors=True)
    _log(f"wheelhouse: downloading {len(requirements)} requirements and their dependencies for the target")
    wanted = list(requirements)
    wheels = download_wheelhouse(wanted, directory, sources)
    while missing := missing_on_target(requirements, wheels):
        if set(missing) <= set(wanted):
            raise ReleaseError(f"the wheelhouse still lacks {missing} after downloading them")
        _log(f"the target also needs {', '.join(missing)} (markers differ from this interpreter's)")
        wanted += [m for m in missing if m not in wanted]
        wheels = download_wheelhouse(wanted, directory, sources)
    (directory / ".complete").write_text(key_text)
    return wheels


def requirements_lock(wheels: Iterable[Path]) -> str:
    """name==version of each wheel: what the host's pip installs, from the wheelhouse only."""
    pins = []
    for wheel in wheels:
        name, version, _build, _tags = parse_wheel_filename(wheel.name)
        pins.append(f"{canonicalize_name(name)}=={version}")
    return "".join(f"{pin}\n" for pin in sorted(pins))


# --- the client ---------------------------------------------------------------------------------------------


def client_build(client_dir: Path | None = None) -> Path:
    """The client's production build: `client_dir` when given, else client/dist (built with npm if missing)."""
    if client_dir is not None:
        if not (client_dir / "index.html").is_file():
            raise ReleaseError(f"{client_dir} has no index.html: not a client build")
        return client_dir
    if not (CLIENT_BUILD / "index.html").is_file():
        _log("client build missing: npm ci && npm run build")
        _run(["npm", "ci", "--no-audit", "--no-fund"], "npm ci", cwd=CLIENT_DIR)
        _run(["npm", "run", "build"], "npm run build", cwd=CLIENT_DIR)
        if not (CLIENT_BUILD / "index.html").is_file():
            raise ReleaseError(f"npm run build wrote no {CLIENT_BUILD}/index.html")
    return CLIENT_BUILD


# --- the bundle ---------------------------------------------------------------------------------------------


def _entries(app_wheel: Path, dep_wheels: Sequence[Path], client_dir: Path) -> dict[str, bytes]:
    """Bundle path → bytes, for every file (directories are added when the tarball is written)."""
    entries = {f"wheels/app/{app_wheel.name}": app_wheel.read_bytes()}
    for wheel in dep_wheels:
        entries[f"wheels/deps/{wheel.name}"] = wheel.read_bytes()
    lock = requirements_lock(dep_wheels)
    entries["wheels/deps/requirements.txt"] = lock.encode()
    for path in sorted(client_dir.rglob("*")):
        if path.is_file():
            entries[f"client/{path.relative_to(client_dir).as_posix()}"] = path.read_bytes()
        elif not path.is_dir():
            raise ReleaseError(f"{path} in the client build is neither a file nor a directory")
    deps = sorted((name, data) for name, data in entries.items() if name.startswith("wheels/deps/"))
    deps_hash = _sha256("".join(f"{name} {_sha256(data)}\n" for name, data in deps).encode())[:16]
    entries["DEPS_HASH"] = f"{deps_hash}\n".encode()
    entries["BUNDLE.json"] = (
        json.dumps(
            {
                "format": 1,
                "server_wheel": app_wheel.name,
                "dependencies": lock.split(),
                "deps_hash": deps_hash,
                "target": {"python": PYTHON_VERSION, "platforms": list(PLATFORMS), "abis": list(ABIS)},
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    ).encode()
    return entries


def content_hash(entries: dict[str, bytes]) -> str:
    """One hash over every entry's name and bytes: equal for equal bundles, whatever the tarball's bytes."""
    listing = "".join(f"{name}\0{_sha256(data)}\n" for name, data in sorted(entries.items()))
    return _sha256(listing.encode())[:16]


def _directories(names: Iterable[str]) -> set[str]:
    directories = set()
    for name in names:
        parts = name.split("/")[:-1]
        directories.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return directories


def write_tarball(entries: dict[str, bytes], target: Path) -> None:
    """A .tar.gz of `entries` whose bytes depend on nothing but the entries."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(_directories(entries) | set(entries)):
            info = tarfile.TarInfo(name)
            info.mtime = FIXED_TIME
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if name in entries:
                info.size = len(entries[name])
                info.mode = 0o644
                archive.addfile(info, io.BytesIO(entries[name]))
            else:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                archive.addfile(info)
    # A private partial file: two builds of the same sources may write at once, and either result is right.
    with (
        tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
    ):
        gz.write(buffer.getvalue())
    Path(raw.name).chmod(0o644)
    Path(raw.name).replace(target)


def build_release(
    *,
    server_dir: Path = SERVER_DIR,
    client_dir: Path | None = None,
    out_dir: Path = DIST_DIR,
    cache_dir: Path = CACHE_DIR,
    sources: PackageSources | None = None,
    server_build_isolation: bool = True,
) -> Release:
    """Build (or reuse) dist/raindrop-<hash>.tar.gz for the current sources."""
    sources = sources or PackageSources()
    client = client_build(client_dir)
    with tempfile.TemporaryDirectory(prefix="raindrop-release-") as scratch:
        _log(f"server wheel from {server_dir}")
        app_wheel = build_server_wheel(server_dir, Path(scratch), build_isolation=server_build_isolation)
        dep_wheels = wheelhouse(wheel_requirements(app_wheel), sources, cache_dir)
        entries = _entries(app_wheel, dep_wheels, client)
    bundle_hash = content_hash(entries)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"raindrop-{bundle_hash}.tar.gz"
    if target.is_file():
        _log(f"{target} exists with this content hash: reused")
    else:
        write_tarball(entries, target)
        _log(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB, {len(entries)} files)")
    return Release(
        path=target,
        hash=bundle_hash,
        deps_hash=entries["DEPS_HASH"].decode().strip(),
        sha256=_sha256(target.read_bytes()),
        entries=tuple(sorted(entries)),
    )


def open_release(path: Path) -> Release:
    """A bundle built earlier (e.g. the stack's raindrop:releaseArchive), its hashes read back and checked."""
    if not path.is_file():
        raise ReleaseError(f"{path} does not exist")
    try:
        with tarfile.open(path, "r:gz") as archive:
            entries = {
                member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
                for member in archive.getmembers()
                if member.isfile()
            }
    except (tarfile.TarError, OSError) as error:
        raise ReleaseError(f"{path} is not a readable .tar.gz: {error}") from error
    if "DEPS_HASH" not in entries or "BUNDLE.json" not in entries:
        raise ReleaseError(f"{path} has no DEPS_HASH or BUNDLE.json: not a Raindrop release bundle")
    bundle_hash = content_hash(entries)
    if path.name != f"raindrop-{bundle_hash}.tar.gz":
        raise ReleaseError(f"{path.name} does not match its content hash {bundle_hash}: renamed or altered")
    return Release(
        path=path,
        hash=bundle_hash,
        deps_hash=entries["DEPS_HASH"].decode().strip(),
        sha256=_sha256(path.read_bytes()),
        entries=tuple(sorted(entries)),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.release", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--client-dir", type=Path, help="a client production build (default: client/dist, built if missing)"
    )
    parser.add_argument("--out", type=Path, default=DIST_DIR, help="where the bundle goes (default: dist/)")
    parser.add_argument("--json", action="store_true", help="print path and hashes as JSON instead of the path")
    args = parser.parse_args(argv)
    try:
        release = build_release(client_dir=args.client_dir, out_dir=args.out)
    except ReleaseError as error:
        print(f"release: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"path": str(release.path), "hash": release.hash, "deps_hash": release.deps_hash,
                          "sha256": release.sha256}))
    else:
        print(release.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
