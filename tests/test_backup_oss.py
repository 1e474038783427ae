"""The backup's off-host copy (app/backup_oss.py) against the OSS stand-in of tests/test_publish.py, with the
real oss2 client signing its requests, and a stand-in for the ECS metadata service handing out the RAM role's
temporary credentials: the way an ECS host gets them, with no access key in any file."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import BUCKET, FakeOss

from app import backup_oss

ROLE = "raindrop-backup"
STS = {"AccessKeyId": "STS.test-id", "AccessKeySecret": "sts-secret", "SecurityToken": "sts-token-123"}


class FakeOssWithGet(FakeOss):
    """FakeOss plus GET of a stored object (a restore on a replacement host downloads its backup)."""

    def do_GET(self) -> None:
        self._record()
        body, _headers = self.server.objects[self._key()]
        self.send_response(200)
        for name, value in {"x-oss-request-id": "fake", "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class FakeMetadata(BaseHTTPRequestHandler):
    """GET /latest/meta-data/ram/security-credentials/<role>: the role's temporary keys, as ECS answers."""

    def do_GET(self) -> None:
        self.server.asked.append(self.path)
        if self.path != f"/latest/meta-data/ram/security-credentials/{ROLE}":
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps({**STS, "Code": "Success", "Expiration": "2099-01-01T00:00:00Z",
                           "LastUpdated": "2098-12-31T18:00:00Z"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def serve(handler: type[BaseHTTPRequestHandler], **state):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    for name, value in state.items():
        setattr(server, name, value)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def stand_ins():
    oss = serve(FakeOssWithGet, objects={}, requests=[])
    metadata = serve(FakeMetadata, asked=[])
    yield oss, metadata
    for server in (oss, metadata):
        server.shutdown()
        server.server_close()


def args(oss, metadata) -> list[str]:
    return ["--endpoint", f"http://127.0.0.1:{oss.server_address[1]}", "--bucket", BUCKET, "--prefix", "backups/",
            "--role", ROLE, "--metadata-url", f"http://127.0.0.1:{metadata.server_address[1]}"
            "/latest/meta-data/ram/security-credentials/"]


def test_put_copies_archive_and_checksum_under_the_prefix_signed_with_the_role(stand_ins, tmp_path):
    oss, metadata = stand_ins
    name = "raindrop-20261201T033000Z-daily"
    archive = tmp_path / f"{name}.tar.gz"
    archive.write_bytes(b"\x1f\x8b archive bytes" * 1000)
    checksum = tmp_path / f"{name}.tar.gz.sha256"
    checksum.write_text(f"{'ab' * 32}  {name}.tar.gz\n")
    assert backup_oss.main([*args(oss, metadata), "put", str(archive), str(checksum)]) == 0
    assert sorted(oss.objects) == [f"backups/{name}.tar.gz", f"backups/{name}.tar.gz.sha256"]
    body, headers = oss.objects[f"backups/{name}.tar.gz"]
    assert body == archive.read_bytes()
    # Signed with the temporary keys of the role, token included: nothing but the metadata service gave them.
    assert headers["authorization"].startswith(f"OSS {STS['AccessKeyId']}:")
    assert headers["x-oss-security-token"] == STS["SecurityToken"]
    assert metadata.asked == [f"/latest/meta-data/ram/security-credentials/{ROLE}"]


def test_get_brings_a_backup_back_for_a_restore(stand_ins, tmp_path):
    oss, metadata = stand_ins
    name = "raindrop-20261201T033000Z-daily"
    oss.objects[f"backups/{name}.tar.gz"] = (b"archive", {})
    oss.objects[f"backups/{name}.tar.gz.sha256"] = (b"sum\n", {})
    assert backup_oss.main([*args(oss, metadata), "get", name, str(tmp_path)]) == 0
    assert (tmp_path / f"{name}.tar.gz").read_bytes() == b"archive"
    assert oct((tmp_path / f"{name}.tar.gz").stat().st_mode & 0o777) == "0o600"


def test_bad_settings_are_named(stand_ins, tmp_path, capsys):
    oss, metadata = stand_ins
    bad_prefix = [*args(oss, metadata)]
    bad_prefix[bad_prefix.index("backups/")] = "backups"
    assert backup_oss.main([*bad_prefix, "put", str(tmp_path)]) == 1
    assert "object prefix 'backups' must be one path segment ending with '/'" in capsys.readouterr().err
    bad_role = [*args(oss, metadata)]
    bad_role[bad_role.index(ROLE)] = "no such role"
    assert backup_oss.main([*bad_role, "put", str(tmp_path)]) == 1
    assert "RAM role name 'no such role' must be" in capsys.readouterr().err
    assert backup_oss.main([*args(oss, metadata), "get", "../etc", str(tmp_path)]) == 1
    assert "'../etc' is not a backup name" in capsys.readouterr().err
    assert oss.objects == {}


def test_a_role_the_metadata_service_does_not_know_fails_without_uploading(stand_ins, tmp_path, capsys):
    oss, metadata = stand_ins
    other = [*args(oss, metadata)]
    other[other.index(ROLE)] = "other-role"
    (tmp_path / "f").write_text("x")
    assert backup_oss.main([*other, "put", str(tmp_path / "f")]) == 1
    assert "Failed to get credentials from ECS metadata service" in capsys.readouterr().err
    assert oss.objects == {}
