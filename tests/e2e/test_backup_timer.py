"""The daily backup timer, on the sandbox host, which boots systemd (systemd-nspawn) as an ECS instance does."""

from __future__ import annotations

from app.steps.script import Script

BACKUPS = "/srv/raindrop/shared/backups"


def test_backup_timer_is_enabled_and_scheduled_under_systemd(ssh):
    on_systemd = ssh.run(Script("systemd", "test -d /run/systemd/system"), check=False).exit_code == 0
    assert on_systemd, "the host does not run systemd (app/sandbox/host.py boots it with systemd-nspawn)"
    enabled = ssh.run(Script("timer-enabled", "systemctl is-enabled raindrop-backup.timer"), check=False).stdout.strip()
    assert enabled == "enabled"
    active = ssh.run(Script("timer-active", "systemctl is-active raindrop-backup.timer"), check=False).stdout.strip()
    assert active == "active"
    timers = ssh.run(Script("timers", "systemctl list-timers --all --no-legend raindrop-backup.timer")).stdout
    assert "raindrop-backup.timer" in timers and "raindrop-backup.service" in timers
    # What the timer starts works: a daily archive appears.
    before = ssh.run(Script("dailies", f"ls {BACKUPS} | grep -c -- '-daily.tar.gz$' || true")).stdout.strip()
    ssh.run(Script("run-service", "systemctl start raindrop-backup.service"))
    after = ssh.run(Script("dailies", f"ls {BACKUPS} | grep -c -- '-daily.tar.gz$' || true")).stdout.strip()
    assert int(after) == int(before) + 1
