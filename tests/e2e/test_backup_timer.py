"""The daily backup timer, on a sandbox host that boots real systemd (systemd-nspawn).

Today's sandbox is a chroot without systemd: there provision installs the units and says that nothing can
fire them, so this file is left out of `make test-e2e` and run on its own with `make test-e2e-systemd`
once the sandbox boots systemd. Then it joins the main run (drop the --ignore in the Makefile).
"""

from __future__ import annotations

from app.steps.script import Script

BACKUPS = "/srv/raindrop/shared/backups"


def test_backup_timer_is_enabled_and_scheduled_under_systemd(ssh):
    on_systemd = ssh.run(Script("systemd", "test -d /run/systemd/system"), check=False).exit_code == 0
    assert on_systemd, "the host does not run systemd: run this once the sandbox boots it (systemd-nspawn)"
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
