#!/usr/bin/env bash
# Installs every system package the test suite and the sandbox need on a fresh Debian 12 machine.
# Idempotent: apt skips what is already there. Run as root (CI and `make deps` do).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

packages=(
  # the server tests run against the real thing
  mariadb-server redis-server
  # config templates are validated by the real programs
  nginx supervisor logrotate
  # the certbot drop-in is checked against Debian's own certbot.service (systemd-analyze verify)
  certbot
  # client unit and end-to-end tests (Debian's browser; nothing downloads one)
  chromium chromium-driver
  # the local sandbox host: debootstrap, booted by systemd-nspawn in its own netns, apt through tinyproxy;
  # systemd-analyze (systemd) checks the rendered drop-ins
  debootstrap systemd-container systemd tinyproxy iproute2 util-linux openssh-client openssh-server iptables
  # benchmarks: closed-loop wrk, open-loop h2load (fixed arrival rates; bench/openloop.py says why not hey)
  wrk nghttp2-client
  # the host-step tests lint every generated script
  shellcheck
  # the https end-to-end test's ACME server (pebble) and its DNS (pebble-challtestsrv, same package)
  pebble
  # generic tools the scripts use
  python3-venv curl ca-certificates git make rsync procps psmisc
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  apt-get update -q
  # policy-rc.d keeps the packages from starting daemons; scripts/services-up.sh starts what tests need.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all system packages present"
fi
