"""Static publish: the client's content-hashed assets to an OSS bucket, and index.html pointed at them.

Two halves, both used by the Pulumi program (app/cloud.py) when the stack has a bucket:
- `python -m app.publish --bundle B --endpoint URL --bucket NAME [--prefix P]` (a local.Command, with the
  deployer's keys in RAINDROP_OSS_ACCESS_KEY_ID / RAINDROP_OSS_ACCESS_KEY_SECRET) uploads the hashed assets of
  the release bundle's client build. Objects already in the bucket are skipped (a hashed name never changes
  content); each gets its Content-Type and `Cache-Control: public, max-age=31536000, immutable`.
- `bundle_client()` + `rewrite_index()`: the program reads the bundle's index.html and points its src/href
  at the bucket or CDN with an HTML parser (BeautifulSoup, not sed: only attributes naming a hashed asset
  change). The deploy writes that index.html into the release (HostConfig.client_index); nginx serves it
  uncached. Without a bucket nothing here runs and nginx serves the assets itself.

The bucket needs a CORS rule allowing GET from the site's origin: module scripts load in CORS mode.
"""

from __future__ import annotations

import argparse
import mimetypes
import os
import re
import sys
import tarfile
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import oss2
from bs4 import BeautifulSoup

from app import render

IMMUTABLE = "public, max-age=31536000, immutable"
# The types browsers need exactly (module scripts are refused under a wrong one); mimetypes for the rest.
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
}
# Attributes that load an asset.
URL_ATTRIBUTES = ("src", "href")


class PublishError(RuntimeError):
    """Publishing cannot go on; the message names the file or setting."""


def hashed_asset_pattern() -> re.Pattern[str]:
    """The same rule nginx uses to cache a file as immutable (config/defaults.yml)."""
    return re.compile(render.load_defaults()["raindrop_hashed_asset_regex"])


def hashed_assets(build_dir: Path) -> list[str]:
    """Paths (relative, POSIX) of the build's content-hashed files."""
    pattern = hashed_asset_pattern()
    return sorted(
        path.relative_to(build_dir).as_posix()
        for path in build_dir.rglob("*")
        if path.is_file() and pattern.search(path.name)
    )


def bundle_client(bundle: Path) -> tuple[str, list[str]]:
    """A release bundle's client index.html and its hashed asset paths, read without unpacking to disk."""
    pattern = hashed_asset_pattern()
    try:
        with tarfile.open(bundle, "r:gz") as archive:
            names = [m.name.removeprefix("client/") for m in archive.getmembers() if m.isfile()
                     and m.name.startswith("client/")]
            index = archive.extractfile("client/index.html")
            html = index.read().decode() if index else None
    except (tarfile.TarError, OSError, KeyError) as error:
        raise PublishError(f"{bundle} holds no readable client/index.html: {error}") from error
    if html is None:
        raise PublishError(f"{bundle} holds no client/index.html")
    return html, sorted(name for name in names if pattern.search(Path(name).name))


def extract_client(bundle: Path, into: Path) -> Path:
    """Unpack the client build a release bundle carries into `into`; returns the build directory."""
    with tarfile.open(bundle, "r:gz") as archive:
        members = [m for m in archive.getmembers() if m.name == "client" or m.name.startswith("client/")]
        archive.extractall(into, members=members, filter="data")
    return into / "client"


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def upload_assets(
    bucket: oss2.Bucket, build_dir: Path, assets: list[str], prefix: str = ""
) -> tuple[list[str], list[str]]:
    """Put each asset under `prefix` unless an object of that name is there already."""
    uploaded: list[str] = []
    skipped: list[str] = []
    for name in assets:
        key = f"{prefix}{name}"
        if bucket.object_exists(key):
            skipped.append(key)
            continue
        headers = {"Content-Type": content_type(name), "Cache-Control": IMMUTABLE}
        bucket.put_object_from_file(key, str(build_dir / name), headers=headers)
        uploaded.append(key)
    return uploaded, skipped


def _asset_name(value: str) -> str | None:
    """The build-relative path an attribute value refers to, or None for absolute and external URLs."""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.query or parts.fragment:
        return None
    return parts.path.removeprefix("./").removeprefix("/")


def rewrite_index(html: str, assets: list[str], base_url: str) -> str:
    """index.html with every src/href that names one of `assets` pointed at `base_url` (the OSS or CDN address)."""
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise PublishError(f"public base {base_url!r} must be an http(s) URL (the OSS or CDN address)")
    known = set(assets)
    base = base_url.rstrip("/") + "/"
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(True):
        for attribute in URL_ATTRIBUTES:
            value = tag.get(attribute)
            if isinstance(value, str) and _asset_name(value) in known:
                tag[attribute] = base + _asset_name(value)
    return str(soup)


def upload_client(bucket: oss2.Bucket, build_dir: Path, prefix: str = "") -> tuple[list[str], list[str]]:
    """Upload a client build's hashed assets under `prefix`: the keys (uploaded, already there)."""
    if not (build_dir / "index.html").is_file():
        raise PublishError(f"{build_dir} has no index.html: not a client build")
    if prefix and not prefix.endswith("/"):
        raise PublishError(f"object prefix {prefix!r} must end with '/'")
    return upload_assets(bucket, build_dir, hashed_assets(build_dir), prefix)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.publish", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="OSS endpoint URL, e.g. https://oss-cn-qingdao.aliyuncs.com")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", default="", help="object key prefix, ending with '/'")
    parser.add_argument("--bundle", type=Path, required=True, help="the release bundle whose client build to publish")
    args = parser.parse_args(argv)
    key_id = os.environ.get("RAINDROP_OSS_ACCESS_KEY_ID")
    key_secret = os.environ.get("RAINDROP_OSS_ACCESS_KEY_SECRET")
    if not key_id or not key_secret:
        print("publish: set RAINDROP_OSS_ACCESS_KEY_ID and RAINDROP_OSS_ACCESS_KEY_SECRET", file=sys.stderr)
        return 2
    bucket = oss2.Bucket(oss2.Auth(key_id, key_secret), args.endpoint, args.bucket)
    with tempfile.TemporaryDirectory(prefix="raindrop-publish-") as scratch:
        try:
            uploaded, skipped = upload_client(bucket, extract_client(args.bundle, Path(scratch)), args.prefix)
        except (PublishError, oss2.exceptions.OssError, tarfile.TarError, OSError) as error:
            print(f"publish: {error}", file=sys.stderr)
            return 1
    print(f"publish: {len(uploaded)} uploaded, {len(skipped)} already there", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
