#!/usr/bin/env bash
# Start the MariaDB and Redis that the server's tests run against, if they are not running yet,
# and create the test account. Idempotent: safe to run again and again (Makefile, .ci/run).
# There is no systemd here and the packages were installed with a policy-rc.d that kept the
# daemons down, so the SysV scripts start them.
set -euo pipefail

TEST_DB_USER="${RAINDROP_TEST_DB_USER:-raindrop_test}"
TEST_DB_PASSWORD="${RAINDROP_TEST_DB_PASSWORD:-raindrop_test}"
WAIT_SECONDS="${RAINDROP_SERVICES_WAIT:-60}"

log() { printf 'services-up: %s\n' "$*" >&2; }

mariadb_answers() { mariadb-admin --protocol=socket -uroot ping >/dev/null 2>&1; }
redis_answers() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

wait_for() {
  local name="$1" check="$2" waited=0
  until "$check"; do
    if [ "$waited" -ge "$WAIT_SECONDS" ]; then
      log "$name did not answer within ${WAIT_SECONDS}s"
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "$name answers"
}

command -v mariadbd >/dev/null || { log "mariadb-server is not installed (scripts/install-deps.sh)"; exit 1; }
command -v redis-server >/dev/null || { log "redis-server is not installed (scripts/install-deps.sh)"; exit 1; }

if ! mariadb_answers; then
  log "starting MariaDB"
  service mariadb start >/dev/null || true
fi
wait_for MariaDB mariadb_answers

if ! redis_answers; then
  log "starting Redis"
  service redis-server start >/dev/null || true
  # The init script needs /run/redis, which a chroot or container may lack; fall back to the daemon.
  redis_answers || redis-server /etc/redis/redis.conf --daemonize yes >/dev/null 2>&1 || true
fi
wait_for Redis redis_answers

# The tests create and drop databases named raindrop_test_<something>; the account may touch nothing else.
log "ensuring MariaDB account ${TEST_DB_USER}"
mariadb --protocol=socket -uroot <<SQL
CREATE USER IF NOT EXISTS '${TEST_DB_USER}'@'localhost' IDENTIFIED BY '${TEST_DB_PASSWORD}';
CREATE USER IF NOT EXISTS '${TEST_DB_USER}'@'127.0.0.1' IDENTIFIED BY '${TEST_DB_PASSWORD}';
GRANT ALL PRIVILEGES ON \`raindrop\\_test%\`.* TO '${TEST_DB_USER}'@'localhost';
GRANT ALL PRIVILEGES ON \`raindrop\\_test%\`.* TO '${TEST_DB_USER}'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
log "ready"
