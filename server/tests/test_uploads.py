import io
import os
from pathlib import Path

import pytest
from raindrop_server.config import MAX_UPLOAD_BYTES
from raindrop_server.uploads import LocalStorage, UnsafeName


def _upload(client, data: bytes, filename: str = "photo.png"):
    return client.post("/api/uploads", data={"file": (io.BytesIO(data), filename)})


@pytest.mark.parametrize(("image_format", "extension"), [("PNG", ".png"), ("JPEG", ".jpg"), ("GIF", ".gif"),
                                                         ("WEBP", ".webp")])  # fmt: skip
def test_images_are_stored_under_a_generated_name(make_client, png_bytes, test_env, image_format, extension):
    alice = make_client("alice")
    data = png_bytes(image_format=image_format)
    response = _upload(alice, data, "holiday.bmp")
    assert response.status_code == 201
    url = response.json["url"]
    assert url.startswith("/static/uploads/")
    name = url.removeprefix("/static/uploads/")
    assert name.endswith(extension)
    assert "holiday" not in name
    stored = Path(test_env["RAINDROP_UPLOAD_DIR"]) / name
    assert stored.read_bytes() == data
    assert oct(stored.stat().st_mode & 0o777) == "0o644"


def test_type_is_checked_by_content_not_extension(make_client, png_bytes):
    alice = make_client("alice")
    fake = _upload(alice, b"<html><script>alert(1)</script></html>", "innocent.png")
    assert fake.status_code == 400
    assert fake.json == {"msg": "file is not an image (JPEG, PNG, GIF or WebP)"}
    # A real PNG is accepted whatever its claimed name, and stored as .png.
    real = _upload(alice, png_bytes(), "notes.txt")
    assert real.status_code == 201
    assert real.json["url"].endswith(".png")


def test_other_image_formats_are_refused(make_client, png_bytes):
    response = _upload(make_client("alice"), png_bytes(image_format="BMP"), "a.bmp")
    assert response.status_code == 400
    assert response.json == {"msg": "image format BMP is not accepted (JPEG, PNG, GIF or WebP)"}


def test_truncated_image_is_refused(make_client, png_bytes):
    response = _upload(make_client("alice"), png_bytes(64, 64)[:60], "a.png")
    assert response.status_code == 400


def test_size_limit_is_4_mb(make_client, test_env):
    alice = make_client("alice")
    before = set(os.listdir(test_env["RAINDROP_UPLOAD_DIR"]))
    just_over = _upload(alice, b"\x89PNG" + b"\0" * (MAX_UPLOAD_BYTES - 3))
    assert just_over.status_code == 413
    assert just_over.json == {"msg": "file is larger than 4 MB"}
    # A request body far beyond the limit is cut off before it is read.
    huge = _upload(alice, b"\0" * (MAX_UPLOAD_BYTES * 2))
    assert huge.status_code == 413
    assert huge.json["msg"].startswith("request too large")
    assert set(os.listdir(test_env["RAINDROP_UPLOAD_DIR"])) == before


def test_traversal_in_the_client_file_name_is_ignored(make_client, png_bytes, test_env):
    response = _upload(make_client("alice"), png_bytes(), "../../../../tmp/evil.png")
    assert response.status_code == 201
    name = response.json["url"].removeprefix("/static/uploads/")
    assert "/" not in name
    assert (Path(test_env["RAINDROP_UPLOAD_DIR"]) / name).is_file()
    assert not Path("/tmp/evil.png").exists()


@pytest.mark.parametrize("name", ["../escape.png", "../../etc/passwd", "/etc/passwd", "sub/dir.png", "", ".", ".."])
def test_storage_refuses_names_that_leave_the_directory(tmp_path, name):
    storage = LocalStorage(str(tmp_path / "uploads"), "/static/uploads/")
    with pytest.raises(UnsafeName):
        storage.save(name, b"data", "image/png")
    assert not (tmp_path / "escape.png").exists()


def test_upload_errors(make_client, client, png_bytes):
    assert _upload(client, png_bytes()).status_code == 401
    alice = make_client("alice")
    missing = alice.post("/api/uploads", data={"other": (io.BytesIO(b"x"), "a.png")})
    assert missing.json == {"msg": "multipart field 'file' is required"}
    assert _upload(alice, b"").json == {"msg": "file is empty"}


def test_oss_mode_is_chosen_when_a_bucket_is_configured(app, monkeypatch):
    from raindrop_server.uploads import OssStorage, storage

    oss = {"endpoint": "oss-cn-hangzhou.aliyuncs.com", "bucket": "raindrop-media", "access_key_id": "id",
           "access_key_secret": "secret", "public_base": "https://media.example.org"}  # fmt: skip
    monkeypatch.setitem(app.config, "OSS", oss)
    with app.app_context():
        chosen = storage()
    assert isinstance(chosen, OssStorage)
    assert chosen.bucket.bucket_name == "raindrop-media"
    assert chosen.url_prefix == "https://media.example.org/uploads/"
    # The name guard runs before anything is sent.
    with pytest.raises(UnsafeName):
        chosen.save("../escape.png", b"data", "image/png")
