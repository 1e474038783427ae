"""Image uploads: checked by content (Pillow), at most 4 MB, stored under a generated name."""

from __future__ import annotations

import io
import secrets
from pathlib import Path
from typing import Any, Protocol

from flask import Blueprint, abort, current_app, request
from PIL import Image, UnidentifiedImageError

from raindrop_server.auth import login_required
from raindrop_server.config import MAX_UPLOAD_BYTES

bp = Blueprint("uploads", __name__, url_prefix="/api/uploads")

# Pillow format name -> extension and content type of the stored file.
IMAGE_FORMATS = {
    "JPEG": (".jpg", "image/jpeg"),
    "PNG": (".png", "image/png"),
    "GIF": (".gif", "image/gif"),
    "WEBP": (".webp", "image/webp"),
}
# Refuse images whose pixel count could exhaust memory when a browser or Pillow decodes them.
MAX_PIXELS = 40_000_000


class UnsafeName(ValueError):
    """A storage name that would leave the upload directory."""


class Storage(Protocol):
    def save(self, name: str, data: bytes, content_type: str) -> str: ...


class LocalStorage:
    """Files in RAINDROP_UPLOAD_DIR, which nginx serves under RAINDROP_UPLOAD_URL_PREFIX."""

    def __init__(self, directory: str, url_prefix: str) -> None:
        self.directory = Path(directory)
        self.url_prefix = url_prefix

    def path_for(self, name: str) -> Path:
        root = self.directory.resolve()
        path = (root / name).resolve()
        if path.parent != root or not path.name or name != path.name:
            raise UnsafeName(f"file name {name!r} leaves the upload directory")
        return path

    def save(self, name: str, data: bytes, content_type: str) -> str:
        path = self.path_for(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        # "x": never overwrite; names are random, so a clash means something is wrong.
        with open(path, "xb") as out:
            out.write(data)
        path.chmod(0o644)
        return self.url_prefix + name


class OssStorage:
    """Objects in an OSS bucket (the scale-out mode, when several hosts share the uploads)."""

    def __init__(self, oss: dict[str, str]) -> None:
        import oss2  # only the scale-out mode needs the SDK loaded

        auth = oss2.Auth(oss["access_key_id"], oss["access_key_secret"])
        self.bucket = oss2.Bucket(auth, oss["endpoint"], oss["bucket"])
        self.url_prefix = oss_url_prefix(oss)

    def save(self, name: str, data: bytes, content_type: str) -> str:
        if "/" in name or name.startswith("."):
            raise UnsafeName(f"file name {name!r} leaves the uploads prefix")
        self.bucket.put_object(f"uploads/{name}", data, headers={"Content-Type": content_type})
        return self.url_prefix + name


def oss_url_prefix(oss: dict[str, str]) -> str:
    base = oss.get("public_base") or f"https://{oss['bucket']}.{oss['endpoint']}"
    return base.rstrip("/") + "/uploads/"


def url_prefixes() -> list[str]:
    """Where the images this site stored live: the only URLs a post may carry as image_url."""
    prefixes = [current_app.config["UPLOAD_URL_PREFIX"]]
    if current_app.config["OSS"].get("bucket"):
        prefixes.append(oss_url_prefix(current_app.config["OSS"]))
    return prefixes


def storage() -> Storage:
    config = current_app.config
    if config["OSS"].get("bucket"):
        return OssStorage(config["OSS"])
    return LocalStorage(config["UPLOAD_DIR"], config["UPLOAD_URL_PREFIX"])


def detect_image(data: bytes) -> str:
    """The Pillow format of data, or a 400 that says why it is not an accepted image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        abort(400, "file is not an image (JPEG, PNG, GIF or WebP)")
    if image_format not in IMAGE_FORMATS:
        abort(400, f"image format {image_format} is not accepted (JPEG, PNG, GIF or WebP)")
    if width * height > MAX_PIXELS:
        abort(400, "image has too many pixels")
    return image_format


@bp.post("")
@login_required
def upload() -> tuple[dict[str, Any], int]:
    file = request.files.get("file")
    if file is None:
        abort(400, "multipart field 'file' is required")
    data = file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        abort(413, "file is larger than 4 MB")
    if not data:
        abort(400, "file is empty")
    extension, content_type = IMAGE_FORMATS[detect_image(data)]
    # The client's file name is never used: it could carry ../ or a misleading extension.
    name = secrets.token_hex(16) + extension
    return {"url": storage().save(name, data, content_type)}, 201
