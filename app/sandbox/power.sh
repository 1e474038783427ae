#!/bin/bash
# The sandbox host's power supply: boots its root with systemd-nspawn and boots it again after a reboot.
#
#   power.sh PID_FILE CGROUP NSPAWN_ARG...
#
# CGROUP (e.g. raindrop-sandbox/rde2e) is the host's own cgroup, made in each systemd-relevant hierarchy before
# nspawn starts. With --keep-unit, nspawn puts the host's systemd in <its own cgroup>/payload; on a machine
# whose PID 1 is not systemd everything sits in the root cgroup, so without this every sandbox host would share
# /payload, and each one's systemd would see, and fail to kill, the others' processes in "its" units.
#
# systemd-nspawn exits with status 133 when the system inside asks for a reboot (`systemctl reboot`); an
# ECS instance comes back by itself then, so this loop starts it again. Any other exit (a poweroff, a
# failure) ends the loop. A power cut is a SIGKILL of this loop and of everything the host runs
# (app/sandbox/host.py, Sandbox.crash).
set -u

REBOOT_STATUS=133

pid_file=$1
cgroup=$2
shift 2

# The cgroup v2 hierarchy (hybrid: /sys/fs/cgroup/unified; unified: /sys/fs/cgroup) and v1's name=systemd.
for hierarchy in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup; do
  [ -f "$hierarchy/cgroup.procs" ] || continue
  mkdir -p "$hierarchy/$cgroup"
  echo "$$" >"$hierarchy/$cgroup/cgroup.procs"
done
echo "$$" >"$pid_file"

while :; do
  printf '=== power on %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  systemd-nspawn "$@"
  status=$?
  printf '=== systemd-nspawn exited %s\n' "$status"
  [ "$status" -eq "$REBOOT_STATUS" ] || exit "$status"
done
