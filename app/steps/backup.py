"""raindrop-backup and raindrop-restore: the host commands, built from the shell files in app/steps/sh.

The logic is shell and stays in app/steps/sh/backup.sh and restore.sh, which shellcheck reads directly. This
module only puts the shared prelude (log, die, the supervisor and health helpers) and a few variables in
front of them; provision installs the results in config.bin_dir, with the OSS uploader (app/backup_oss.py)
beside them and the settings file config/backup.conf.j2 renders.

  raindrop-backup [LABEL]   one archive in the backup dir (LABEL: manual by default, daily from the timer,
                            pre-migration from the deploy); its last line of output is the backup's name
  raindrop-restore NAME     verify it, stop the app, restore database and uploads, start, health check
"""

from __future__ import annotations

from pathlib import Path

from app.steps.host import HostConfig, HostFile
from app.steps.script import Script
from app.steps.shell import lines, prelude, q

SH_DIR = Path(__file__).resolve().parent / "sh"
UPLOADER_SOURCE = Path(__file__).resolve().parent.parent / "backup_oss.py"
BACKUP_TIMER = "raindrop-backup.timer"
# How the database is created: provision and a restore make it the same way.
DB_CREATE_OPTIONS = "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
# raindrop-backup's exit status when the archive is kept on the host but its off-host copy failed.
LOCAL_ONLY_STATUS = 3


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _command(config: HostConfig, name: str, sh_file: str) -> Script:
    body = lines(
        prelude(config),
        f"BACKUP_CONF={q(config.backup_conf)}",
        f"LOCAL_DB={_yes(config.local_db)}",
        f"LOCAL_REDIS={_yes(config.local_redis)}",
        f"OSS_UPLOADER={q(config.backup_uploader)}",
        f"DB_CREATE_OPTIONS={q(DB_CREATE_OPTIONS)}",
        # The prelude's die() speaks of a deploy; these commands name themselves.
        f"die() {{ printf '\\n!!! {name.upper().replace('-', ' ')} FAILED: %s\\n\\n' \"$*\" >&2; exit 1; }}",
        (SH_DIR / sh_file).read_text(),
    )
    return Script(name=name, body=body)


def backup_command(config: HostConfig) -> Script:
    """config.backup_command: its text is what provision installs."""
    return _command(config, "raindrop-backup", "backup.sh")


def restore_command(config: HostConfig) -> Script:
    """config.restore_command: its text is what provision installs."""
    return _command(config, "raindrop-restore", "restore.sh")


def backup_files(config: HostConfig) -> tuple[HostFile, ...]:
    """The two commands (root only: they read every row and upload) and the uploader they call."""
    return (
        HostFile(config.backup_command, backup_command(config).text(), mode="700"),
        HostFile(config.restore_command, restore_command(config).text(), mode="700"),
        HostFile(config.backup_uploader, UPLOADER_SOURCE.read_text(), mode="644"),
    )


def pre_migration_backup(config: HostConfig) -> str:
    """Deploy's lines before it migrates a live database: a backup, so a bad migration can be undone.

    A host whose database is a managed service (RDS) takes none: RDS keeps its own (the stack's backup policy).
    """
    if not config.local_db:
        return 'log "database: a managed service with its own backups; no pre-migration dump here"'
    return lines(
        'if [ -L "$CURRENT" ]; then',
        '  log "backup before the migrations"',
        "  backup_status=0",
        f"  {q(config.backup_command)} pre-migration || backup_status=$?",
        '  case "$backup_status" in',
        "    0) ;;",
        f'    {LOCAL_ONLY_STATUS}) log "the pre-migration backup is on this host only: its off-host copy failed" ;;',
        '    *) die "the pre-migration backup failed (exit $backup_status): nothing was migrated" ;;',
        "  esac",
        "fi",
    )


def enable_timer(config: HostConfig) -> str:
    """Provision's lines that enable the daily backup, where its units are placed."""
    if not any(f.path.endswith(f"/{BACKUP_TIMER}") for f in config.system_files):
        return 'log "backup timer: none here (no local database)"' if not config.local_db else ""
    return lines('log "daily backup timer"', f"timer_enable {BACKUP_TIMER}")
