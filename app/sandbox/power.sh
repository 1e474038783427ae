#!/bin/bash
# The sandbox host's power supply: boots its root with systemd-nspawn and boots it again after a reboot.
#
#   power.sh PID_FILE NSPAWN_ARG...
#
# systemd-nspawn exits with status 133 when the system inside asks for a reboot (`systemctl reboot`); an
# ECS instance comes back by itself then, so this loop starts it again. Any other exit (a poweroff, a
# failure) ends the loop. A power cut is a SIGKILL of this loop and of everything the host runs
# (app/sandbox/host.py, Sandbox.crash).
set -u

REBOOT_STATUS=133

pid_file=$1
shift
echo "$$" >"$pid_file"

while :; do
  printf '=== power on %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  systemd-nspawn "$@"
  status=$?
  printf '=== systemd-nspawn exited %s\n' "$status"
  [ "$status" -eq "$REBOOT_STATUS" ] || exit "$status"
done
