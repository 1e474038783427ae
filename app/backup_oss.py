"""The off-host copy of a backup: raindrop-backup's archive (and its .sha256) to the bucket's private prefix.

This file runs on the host, not in the Pulumi program: provision installs it as
/usr/local/lib/raindrop/backup_oss.py and raindrop-backup calls it with the live release's Python, whose
venv has oss2 (a server dependency). So it imports nothing but oss2 and the standard library.

Credentials are the ECS instance's RAM role, read from the instance metadata service: temporary STS keys
that oss2 renews itself, never an access key in a file. The role's policy allows writing (and reading back,
for a restore on a replacement host) under the backups prefix only.

    python backup_oss.py --endpoint URL --bucket NAME --prefix backups/ --role ROLE put FILE...
    python backup_oss.py --endpoint URL --bucket NAME --prefix backups/ --role ROLE get NAME DIR
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence

import oss2
from oss2.credentials import EcsRamRoleCredentialsProvider

# The ECS metadata service: GET <this><role> answers the role's temporary credentials as JSON.
METADATA_URL = "http://100.100.100.200/latest/meta-data/ram/security-credentials/"
_ROLE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_-]*/$")
_BACKUP_NAME = re.compile(r"^raindrop-[0-9]{8}T[0-9]{6}Z-[a-z0-9-]+$")


class BackupCopyError(RuntimeError):
    """The copy cannot go on; the message names the setting or file."""


def role_bucket(endpoint: str, bucket: str, role: str, metadata_url: str = METADATA_URL) -> oss2.Bucket:
    """An oss2 Bucket signing with the RAM role's temporary credentials from the metadata service."""
    if not _ROLE.match(role):
        raise BackupCopyError(f"RAM role name {role!r} must be 1-64 of A-Z a-z 0-9 . _ -")
    if not endpoint.startswith(("http://", "https://")):
        raise BackupCopyError(f"endpoint {endpoint!r} must be an http(s) URL")
    provider = EcsRamRoleCredentialsProvider(metadata_url + role, max_retries=3, timeout=5)
    return oss2.Bucket(oss2.ProviderAuth(provider), endpoint, bucket)


def _check_prefix(prefix: str) -> None:
    if not _PREFIX.match(prefix):
        raise BackupCopyError(f"object prefix {prefix!r} must be one path segment ending with '/', like 'backups/'")


def put(bucket: oss2.Bucket, prefix: str, paths: Sequence[str]) -> list[str]:
    """Upload each file under `prefix` by its base name; oss2 checks each upload's CRC64. Returns the keys."""
    _check_prefix(prefix)
    keys = []
    for path in paths:
        if not os.path.isfile(path):
            raise BackupCopyError(f"{path} is not a file")
        key = prefix + os.path.basename(path)
        # One PUT (OSS takes up to 5 GB so); oss2 compares the CRC64 OSS answers with the file's.
        bucket.put_object_from_file(key, path, headers={"Content-Type": "application/octet-stream"})
        keys.append(key)
    return keys


def get(bucket: oss2.Bucket, prefix: str, name: str, directory: str) -> list[str]:
    """Download backup `name` (archive and checksum file) into `directory`, where raindrop-restore finds it."""
    _check_prefix(prefix)
    if not _BACKUP_NAME.match(name):
        raise BackupCopyError(f"{name!r} is not a backup name like raindrop-20260101T033000Z-daily")
    written = []
    for file_name in (f"{name}.tar.gz.sha256", f"{name}.tar.gz"):
        target = os.path.join(directory, file_name)
        bucket.get_object_to_file(prefix + file_name, target)
        os.chmod(target, 0o600)
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="backup_oss.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--role", required=True, help="the ECS RAM role attached to this instance")
    parser.add_argument("--metadata-url", default=METADATA_URL, help=argparse.SUPPRESS)  # the tests' stand-in
    commands = parser.add_subparsers(dest="command", required=True)
    put_parser = commands.add_parser("put", help="upload files under the prefix")
    put_parser.add_argument("files", nargs="+")
    get_parser = commands.add_parser("get", help="download one backup into a directory")
    get_parser.add_argument("name")
    get_parser.add_argument("directory")
    args = parser.parse_args(argv)
    try:
        bucket = role_bucket(args.endpoint, args.bucket, args.role, args.metadata_url)
        if args.command == "put":
            done = put(bucket, args.prefix, args.files)
        else:
            done = get(bucket, args.prefix, args.name, args.directory)
    except (BackupCopyError, oss2.exceptions.OssError, oss2.exceptions.ClientError, OSError) as error:
        print(f"backup_oss: {error}", file=sys.stderr)
        return 1
    for item in done:
        print(f"backup_oss: {args.command} {item}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
