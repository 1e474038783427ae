"""Release bundles that differ from a base bundle on purpose, made with app.release's own pieces.

- a code-only change: one comment added to the server package, so the bundle (and release) hash changes
  while the dependency wheels, and so the host's venv, stay the same;
- a bad release: /api/health always answers 503, so the deploy's health gate must roll it back.

The base bundle's entries are kept as they are except the server wheel, which is rebuilt (app.release's
build_server_wheel) from a scratch copy of server/ with the change; the content hash and the tarball come
from app.release too. The dependency wheelhouse is not rebuilt, and the checkout is never touched.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
from pathlib import Path

from app.release import (
    DIST_DIR,
    SERVER_DIR,
    SERVER_IGNORE,
    Release,
    build_server_wheel,
    content_hash,
    write_tarball,
)

VARIANTS_DIR = Path(__file__).with_name("results") / "bundles"
APP_WHEELS = "wheels/app/"
KEEP_VARIANTS = 4
# The health view's verdict in server/src/raindrop_server/health.py; a bad release replaces it.
HEALTH_VERDICT = '200 if all(value == "ok" for value in status.values()) else 503'


class VariantError(RuntimeError):
    """No base bundle, or the sources do not look as this module expects (e.g. the health view changed)."""


def newest_bundle(directory: Path = DIST_DIR) -> Path:
    bundles = sorted(directory.glob("raindrop-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not bundles:
        raise VariantError(f"no release bundle in {directory}: run `python -m app.release` first")
    return bundles[-1]


def _entries(bundle: Path) -> dict[str, bytes]:
    entries = {}
    with tarfile.open(bundle) as archive:
        for member in archive.getmembers():
            if member.isfile():
                data = archive.extractfile(member)
                assert data is not None
                entries[member.name] = data.read()
    return entries


def _patch(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if old not in text:
        raise VariantError(f"{path.name} no longer contains {old!r}: update bench/variants.py to match it")
    path.write_text(text.replace(old, new))


def build_variant(
    tag: str, *, bad_health: bool = False, base: Path | None = None, out_dir: Path = VARIANTS_DIR
) -> Release:
    """`base` (default: the newest bundle in dist/) with a server wheel marked `tag` (and broken health)."""
    base = base or newest_bundle()
    entries = _entries(base)
    old_wheels = [name for name in entries if name.startswith(APP_WHEELS)]
    if len(old_wheels) != 1:
        raise VariantError(f"{base} holds {len(old_wheels)} server wheels under {APP_WHEELS}, expected one")
    with tempfile.TemporaryDirectory(prefix="raindrop-bench-variant-") as scratch:
        server = Path(scratch) / "server"
        shutil.copytree(SERVER_DIR, server, ignore=SERVER_IGNORE)
        package = server / "src" / "raindrop_server"
        marker = package / "__init__.py"
        marker.write_text(marker.read_text() + f"\n# bench variant: {tag}\n")
        if bad_health:
            _patch(package / "health.py", HEALTH_VERDICT, "503  # bench: a release whose health check fails")
        # The build backend is in this venv already: no isolated build environment, no index.
        wheel = build_server_wheel(server, Path(scratch) / "wheel", build_isolation=False)
        del entries[old_wheels[0]]
        entries[APP_WHEELS + wheel.name] = wheel.read_bytes()
    bundle_hash = content_hash(entries)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"raindrop-{bundle_hash}.tar.gz"
    write_tarball(entries, target)
    # Variants are throwaway: keep the last few for a look, not every one ever made.
    for old in sorted(out_dir.glob("raindrop-*.tar.gz"), key=lambda p: p.stat().st_mtime)[:-KEEP_VARIANTS]:
        old.unlink()
    return Release(
        path=target,
        hash=bundle_hash,
        deps_hash=entries["DEPS_HASH"].decode().strip(),
        sha256=hashlib.sha256(target.read_bytes()).hexdigest(),
        entries=tuple(sorted(entries)),
    )
