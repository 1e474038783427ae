"""raindrop-backup and raindrop-restore: their shell files checked by shellcheck as they are, the commands
provision installs, and both run for real with bash on a scratch tree.

On the scratch tree the database is a file: mariadb-dump prints it, mariadb recreates or loads it, and
supervisorctl, redis-cli and curl record what they were asked (tests/test_steps.py's stubs). tar, gzip,
sha256sum and flock are the real ones, so the archive, its manifest and every refusal are real. The real
MariaDB round trip is tests/e2e/test_backup.py's.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from helpers import BUNDLE, SECRETS, STUBS, TEMPLATE_VALUES, config, stub_bin

from app import render
from app.steps.backup import (
    BACKUP_TIMER,
    DB_CREATE_OPTIONS,
    SH_DIR,
    UPLOADER_SOURCE,
    backup_command,
    backup_files,
    restore_command,
)
from app.steps.deploy import deploy
from app.steps.files import host_config
from app.steps.host import HostConfig
from app.steps.provision import provision
from app.steps.secrets import write_secrets
from app.steps.shell import prelude

SCALE_OUT_VALUES = {**TEMPLATE_VALUES, "raindrop_db_host": "rm-x.mysql.rds.aliyuncs.com",
                    "raindrop_redis_host": "r-x.redis.rds.aliyuncs.com"}

BACKUP_STUBS = {
    **STUBS,
    "mariadb-dump": 'echo "mariadb-dump $*" >> "$STUB_LOG"\ncat "$STUB_DB"',
    "mariadb": """
echo "mariadb $*" >> "$STUB_LOG"
case "$*" in
  *"SELECT version_num"*) echo 0001 ;;
  *"DROP DATABASE"*) : > "$STUB_DB" ;;
  *) cat > "$STUB_DB" ;;
esac
""",
    "redis-cli": 'echo "redis-cli $* auth=${REDISCLI_AUTH:-none}" >> "$STUB_LOG"',
}


# --- the shell files and the commands built from them -----------------------------------------------------


@pytest.mark.parametrize("name", ["backup.sh", "restore.sh"])
def test_shellcheck_reads_the_shell_files_as_they_are(name):
    result = subprocess.run(["shellcheck", str(SH_DIR / name)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_commands_are_the_prelude_the_variables_and_the_shell_file():
    cfg = config()
    commands = ((backup_command(cfg), "backup.sh", "BACKUP"), (restore_command(cfg), "restore.sh", "RESTORE"))
    for script, sh_file, word in commands:
        header = (
            "BACKUP_CONF=/etc/raindrop/backup.conf\n"
            "LOCAL_DB=yes\n"
            "LOCAL_REDIS=yes\n"
            "OSS_UPLOADER=/usr/local/lib/raindrop/backup_oss.py\n"
            f"DB_CREATE_OPTIONS='{DB_CREATE_OPTIONS}'\n"
        )
        die = f"die() {{ printf '\\n!!! RAINDROP {word} FAILED: %s\\n\\n' \"$*\" >&2; exit 1; }}\n"
        assert script.body == prelude(cfg) + header + die + (SH_DIR / sh_file).read_text()
        assert not script.secret


def test_provision_installs_the_commands_root_only_and_enables_the_timer():
    cfg = host_config(TEMPLATE_VALUES)
    text = provision(cfg).text()
    installed = [f for f in backup_files(cfg)]
    assert [(f.path, f.mode, f.owner) for f in installed] == [
        ("/usr/local/bin/raindrop-backup", "700", "root:root"),
        ("/usr/local/bin/raindrop-restore", "700", "root:root"),
        ("/usr/local/lib/raindrop/backup_oss.py", "644", "root:root"),
    ]
    assert installed[2].content == UPLOADER_SOURCE.read_text()
    for host_file in installed:
        assert f"{host_file.mode} {host_file.owner} {host_file.path} " in text
    units = {f.path for f in cfg.system_files if f.path.startswith("/etc/systemd/system/raindrop-backup.")}
    assert units == {"/etc/systemd/system/raindrop-backup.service", f"/etc/systemd/system/{BACKUP_TIMER}"}
    assert "/etc/raindrop/backup.conf" in {f.path for f in cfg.system_files}
    # units placed (apply_files runs daemon-reload when it writes a unit), then the timer enabled (inert
    # without systemd, and it says so)
    order = [text.index(f"printf '%s\\t%s\\t%s\\t%s\\t%s\\n' 644 root:root /etc/systemd/system/{BACKUP_TIMER}"),
             text.index('apply_files "$scratch"', text.index(f"/etc/systemd/system/{BACKUP_TIMER}")),
             text.index(f"timer_enable {BACKUP_TIMER}")]
    assert order == sorted(order)
    assert '[[ "$dest" == /etc/systemd/* ]] && [ -d /run/systemd/system ]; then\n      systemctl daemon-reload' in text
    assert "systemctl enable --now --quiet \"$1\"; else log \"no systemd here" in text


def test_scale_out_hosts_get_no_timer_and_commands_that_refuse():
    cfg = host_config(SCALE_OUT_VALUES)
    assert not any("raindrop-backup." in f.path for f in cfg.system_files + cfg.app_files)
    text = provision(cfg).text()
    assert f"timer_enable {BACKUP_TIMER}" not in text
    assert 'log "backup timer: none here (no local database)"' in text
    assert "LOCAL_DB=no" in backup_command(cfg).body


def test_deploy_backs_up_before_migrating_a_live_database_only():
    text = deploy(config(), BUNDLE).text()
    unchanged = text.index('[ "$(migrations_of "$RELEASE")" = "$(migrations_of "$CURRENT")" ]')
    backup = text.index("/usr/local/bin/raindrop-backup pre-migration || backup_status=$?")
    migrate = text.index("db upgrade")
    assert unchanged < backup < migrate
    start = text.index('  if [ -L "$CURRENT" ]; then\n    log "backup before the migrations"')
    block = text[start : text.index('  log "migrations"', start)]
    assert block.splitlines() == [
        '  if [ -L "$CURRENT" ]; then',
        '    log "backup before the migrations"',
        "    backup_status=0",
        "    /usr/local/bin/raindrop-backup pre-migration || backup_status=$?",
        '    case "$backup_status" in',
        "      0) ;;",
        '      3) log "the pre-migration backup is on this host only: its off-host copy failed" ;;',
        '      *) die "the pre-migration backup failed (exit $backup_status): nothing was migrated" ;;',
        "    esac",
        "  fi",
    ]
    managed = deploy(host_config(SCALE_OUT_VALUES), BUNDLE).text()
    assert "raindrop-backup" not in managed
    assert "no pre-migration dump here" in managed


# --- run for real on a scratch tree ---------------------------------------------------------------------


class BackupHost:
    """A scratch tree with the backup settings, an uploads dir, a 'database' file and recording stubs."""

    def __init__(self, root: Path, *, keep: int = 3, bucket: str = "", local_db: bool = True) -> None:
        self.root = root
        self.bin = stub_bin(root, BACKUP_STUBS)
        self.log = root / "calls.log"
        self.db = root / "database.sql"
        self.db.write_text("CREATE TABLE posts; INSERT 1;\n")
        self.uploads = root / "srv" / "shared" / "uploads"
        self.uploads.mkdir(parents=True)
        self.backups = root / "srv" / "shared" / "backups"
        etc = root / "etc"
        self.config = HostConfig.from_defaults(
            base_dir=str(root / "srv"),
            etc_dir=str(etc),
            env_file=str(etc / "raindrop.env"),
            bin_dir=str(root / "bin"),
            lib_dir=str(root / "lib"),
            backup_conf=str(etc / "backup.conf"),
            app_user="root",  # the scratch tree has no raindrop user to own the uploads
            health_attempts=1,
            local_db=local_db,
        )
        self.run_script(write_secrets(self.config, SECRETS))
        conf = render.render("backup.conf", render.config_variables({
            **TEMPLATE_VALUES, "raindrop_admin_password": "x", "raindrop_db_password": "x",
            "raindrop_redis_password": "x", "raindrop_secret_key": "x",
            "raindrop_backup_dir": str(self.backups), "raindrop_uploads_dir": str(self.uploads),
            "raindrop_backup_keep": keep, "raindrop_backup_lock_wait": 1,
            "raindrop_backup_oss_endpoint": "https://oss-cn-hangzhou-internal.aliyuncs.com" if bucket else "",
            "raindrop_backup_oss_bucket": bucket, "raindrop_backup_oss_ram_role": "raindrop-backup" if bucket else "",
        }))
        (etc / "backup.conf").write_text(conf)
        for host_file in backup_files(self.config):
            Path(host_file.path).parent.mkdir(parents=True, exist_ok=True)
            Path(host_file.path).write_text(host_file.content)
            Path(host_file.path).chmod(int(host_file.mode, 8))

    def env(self) -> dict[str, str]:
        return {"PATH": f"{self.bin}:/usr/sbin:/usr/bin:/sbin:/bin", "STUB_LOG": str(self.log),
                "STUB_DB": str(self.db), "STUB_CURRENT": str(self.root / "srv" / "current"), "HOME": str(self.root)}

    def run_script(self, script) -> None:
        path = self.root / f"{script.name}.sh"
        path.write_text(script.text())
        subprocess.run(["bash", str(path)], capture_output=True, text=True, env=self.env(), check=True)

    def command(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        self.log.write_text("")
        return subprocess.run([str(self.root / "bin" / name), *args], capture_output=True, text=True,
                              env=self.env(), check=False)

    def backup(self, *args: str) -> str:
        result = self.command("raindrop-backup", *args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.splitlines()[-1]

    def names(self) -> list[str]:
        return sorted(p.name for p in self.backups.iterdir() if not p.name.startswith("."))

    def state(self) -> dict[str, object]:
        files = {str(p.relative_to(self.uploads)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                                     oct(p.stat().st_mode & 0o777))
                 for p in sorted(self.uploads.rglob("*")) if p.is_file()}
        return {"db": self.db.read_text(), **files}


@pytest.fixture
def host(tmp_path):
    return BackupHost(tmp_path)


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_backup_writes_one_root_only_archive_with_its_manifest_and_checksum(host):
    (host.uploads / "a.png").write_bytes(b"png one")
    (host.uploads / "2026").mkdir()
    (host.uploads / "2026" / "b.png").write_bytes(b"png two")
    name = host.backup()
    assert name.startswith("raindrop-") and name.endswith("-manual")
    assert host.names() == [f"{name}.tar.gz", f"{name}.tar.gz.sha256"]
    archive = host.backups / f"{name}.tar.gz"
    assert oct(host.backups.stat().st_mode & 0o777) == "0o700"
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    assert (host.backups / f"{name}.tar.gz.sha256").read_text() == (
        f"{hashlib.sha256(archive.read_bytes()).hexdigest()}  {name}.tar.gz\n"
    )
    inside = members(archive)
    assert sorted(inside) == ["MANIFEST", "db.sql", "uploads.tar"]
    assert inside["db.sql"] == b"CREATE TABLE posts; INSERT 1;\n"
    with tarfile.open(fileobj=io.BytesIO(inside["uploads.tar"])) as uploads:
        assert sorted(m.name for m in uploads.getmembers() if m.isfile()) == ["./2026/b.png", "./a.png"]
    manifest = inside["MANIFEST"].decode().splitlines()
    created = next(line for line in manifest if line.startswith("created "))
    assert manifest == [
        "raindrop-backup 1",
        f"name {name}",
        created,
        "label manual",
        "database raindrop",
        "release none",
        "alembic 0001",
        *(f"file {member} {len(inside[member])} {hashlib.sha256(inside[member]).hexdigest()}"
          for member in ("db.sql", "uploads.tar")),
    ]
    dump = host.log.read_text().splitlines()[0]
    assert dump == ("mariadb-dump --protocol=socket --user=root --single-transaction --routines --triggers "
                    "--hex-blob --default-character-set=utf8mb4 raindrop")


def test_retention_keeps_the_newest_archives_whatever_their_label(host):
    made = [host.backup(label) for label in ("daily", "pre-migration", "daily")]
    fourth = host.command("raindrop-backup", "manual")
    made.append(fourth.stdout.splitlines()[-1])
    assert f"removed old backup {made[0]}" in fourth.stdout
    assert host.names() == sorted(f"{n}.tar.gz{s}" for n in made[1:] for s in ("", ".sha256"))


def test_a_bad_label_is_refused_naming_the_rule(host):
    result = host.command("raindrop-backup", "Not OK")
    assert result.returncode == 1
    assert "backup label 'Not OK' must be 1-32 of a-z 0-9 -" in result.stderr
    assert not host.backups.exists() or host.names() == []


def test_restore_round_trip_verifies_then_stops_restores_starts_in_that_order(host):
    (host.uploads / "kept.png").write_bytes(b"kept")
    (host.uploads / "kept.png").chmod(0o644)  # nginx reads uploads: the restore keeps their modes
    before = host.state()
    name = host.backup()
    host.db.write_text("CREATE TABLE posts; INSERT 1; INSERT 2;\n")
    (host.uploads / "kept.png").unlink()
    (host.uploads / "later.png").write_bytes(b"later")
    result = host.command("raindrop-restore", name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert host.state() == before
    calls = [line for line in host.log.read_text().splitlines() if not line.startswith("supervisorctl pid")]
    assert calls == [
        "supervisorctl stop raindrop-web:* raindrop-celery:*",
        f"mariadb --protocol=socket --user=root -e DROP DATABASE IF EXISTS `raindrop`; CREATE DATABASE `raindrop` "
        f"{DB_CREATE_OPTIONS};",
        "mariadb --protocol=socket --user=root raindrop",
        f"redis-cli -h 127.0.0.1 -p 6379 -n 0 FLUSHDB auth={SECRETS['redis_password']}",
        "supervisorctl start raindrop-web:* raindrop-celery:*",
        "curl -fsS -o /dev/null --max-time 5 http://127.0.0.1:80/api/health",
    ]
    assert f"restored {name}" in result.stdout


def _refused(host: BackupHost, name: str, why: str) -> None:
    before = host.state()
    result = host.command("raindrop-restore", name)
    assert result.returncode == 1
    assert f"refusing {name}: {why}; nothing was restored" in result.stderr
    assert host.log.read_text() == ""  # not even the app was stopped
    assert host.state() == before


def test_a_truncated_archive_is_refused_and_nothing_changes(host):
    (host.uploads / "a.png").write_bytes(os.urandom(20000))
    name = host.backup()
    archive = host.backups / f"{name}.tar.gz"
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    host.db.write_text("newer state\n")
    _refused(host, name, "the archive does not match its sha256 (truncated or altered)")


def test_an_altered_member_is_refused_by_the_manifest_even_with_a_matching_checksum_file(host, tmp_path):
    name = host.backup()
    archive = host.backups / f"{name}.tar.gz"
    inside = members(archive)
    inside["db.sql"] = b"DROP TABLE users;\n"  # same manifest, other dump
    with tarfile.open(archive, "w:gz") as tar:
        for member, data in inside.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (host.backups / f"{name}.tar.gz.sha256").write_text(
        f"{hashlib.sha256(archive.read_bytes()).hexdigest()}  {name}.tar.gz\n")
    host.db.write_text("newer state\n")
    size = len("CREATE TABLE posts; INSERT 1;\n")
    _refused(host, name, f"db.sql is not the {size} bytes its manifest says")


def test_an_archive_without_its_checksum_file_is_refused(host):
    name = host.backup()
    (host.backups / f"{name}.tar.gz.sha256").unlink()
    _refused(host, name, f"it has no checksum file {name}.tar.gz.sha256")


def test_unknown_or_malformed_names_are_refused_listing_the_kept_ones(host):
    name = host.backup()
    result = host.command("raindrop-restore", "raindrop-20990101T000000Z-daily")
    assert result.returncode == 1
    assert f"no backup raindrop-20990101T000000Z-daily in {host.backups}; kept: {name}" in result.stderr
    result = host.command("raindrop-restore", "../../etc/passwd")
    assert "'passwd' is not a backup name like raindrop-20260101T033000Z-daily" in result.stderr
    # The archive's own file name is accepted too (tab completion gives it).
    assert host.command("raindrop-restore", f"{host.backups}/{name}.tar.gz").returncode == 0


def test_on_a_managed_database_both_commands_refuse_and_say_why(tmp_path):
    host = BackupHost(tmp_path, local_db=False)
    backup = host.command("raindrop-backup")
    assert backup.returncode == 1
    assert "RDS keeps its own backups" in backup.stderr
    restore = host.command("raindrop-restore", "raindrop-20260101T000000Z-daily")
    assert restore.returncode == 1
    assert "restore it from its own backups (RDS console or API)" in restore.stderr


def _fake_python(host: BackupHost, status: int) -> None:
    venv = host.root / "srv" / "current" / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text(f'#!/bin/bash\necho "python $*" >> "$STUB_LOG"\nexit {status}\n')
    (venv / "python").chmod(0o755)


def test_with_a_bucket_each_archive_is_copied_off_the_host(tmp_path):
    host = BackupHost(tmp_path, bucket="raindrop-dev-abc")
    _fake_python(host, 0)
    name = host.backup()
    archive = host.backups / f"{name}.tar.gz"
    assert host.log.read_text().splitlines()[-1] == (
        f"python {host.root}/lib/backup_oss.py --endpoint https://oss-cn-hangzhou-internal.aliyuncs.com "
        f"--bucket raindrop-dev-abc --prefix backups/ --role raindrop-backup put {archive} {archive}.sha256"
    )


def test_a_failed_off_host_copy_keeps_the_archive_and_exits_3(tmp_path):
    host = BackupHost(tmp_path, bucket="raindrop-dev-abc")
    _fake_python(host, 1)
    result = host.command("raindrop-backup")
    assert result.returncode == 3
    name = result.stdout.splitlines()[-1]
    assert f"the off-host copy of {name} failed: it stays on this host only" in result.stdout
    assert host.names() == [f"{name}.tar.gz", f"{name}.tar.gz.sha256"]


def test_every_backup_template_is_placed_by_provision_not_carried_by_releases():
    cfg = host_config(TEMPLATE_VALUES)
    app_paths = {f.path for f in cfg.app_files}
    for spec in render.HOST_FILES:
        if spec.template in ("backup.conf", "raindrop-backup.service", "raindrop-backup.timer"):
            assert spec.path not in app_paths


def test_a_backup_not_on_the_host_is_fetched_from_the_bucket_then_verified_and_restored(tmp_path):
    host = BackupHost(tmp_path / "host", bucket="raindrop-dev-abc")
    _fake_python(host, 0)
    (host.uploads / "kept.png").write_bytes(b"kept")
    before = host.state()
    name = host.backup()
    # The bucket holds the copy; this host has lost its own (a replacement host, say).
    remote = tmp_path / "bucket"
    remote.mkdir()
    for path in host.backups.glob(f"{name}.*"):
        path.rename(remote / path.name)
    # The uploader's stand-in: logs its arguments and "downloads" into the directory it is given last.
    (host.root / "srv" / "current" / "venv" / "bin" / "python").write_text(
        f'#!/bin/bash\necho "python $*" >> "$STUB_LOG"\nfor last; do :; done; cp {remote}/{name}.* "$last"\n'
    )
    host.db.write_text("lost\n")
    result = host.command("raindrop-restore", name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{name} is not on this host: fetching it from oss://raindrop-dev-abc/backups/" in result.stdout
    assert host.log.read_text().splitlines()[0] == (
        f"python {host.root}/lib/backup_oss.py --endpoint https://oss-cn-hangzhou-internal.aliyuncs.com "
        f"--bucket raindrop-dev-abc --prefix backups/ --role raindrop-backup get {name} {host.backups}"
    )
    assert host.state() == before


def test_a_fetched_copy_that_was_altered_is_refused_like_a_local_one(tmp_path):
    host = BackupHost(tmp_path / "host", bucket="raindrop-dev-abc")
    _fake_python(host, 0)
    name = host.backup()
    remote = tmp_path / "bucket"
    remote.mkdir()
    for path in host.backups.glob(f"{name}.*"):
        path.rename(remote / path.name)
    archive = remote / f"{name}.tar.gz"
    archive.write_bytes(archive.read_bytes()[:-10])
    (host.root / "srv" / "current" / "venv" / "bin" / "python").write_text(
        f'#!/bin/bash\nfor last; do :; done; cp {remote}/{name}.* "$last"\n'
    )
    host.db.write_text("newer state\n")
    _refused(host, name, "the archive does not match its sha256 (truncated or altered)")
