# shellcheck shell=bash
# The shell library every host step shares: log, die, installing files, services, the release switch, the
# graceful reload, the health gate and the deploy lock.
#
# app/steps/shell.py's prelude() puts these variables (from HostConfig) in front of this file, then the file
# as it is: BASE, APP_USER, SECRETS_FILE, STAGED, ENV_FILE, WEB_PROGRAMS and WORKER_PROGRAMS (arrays of
# supervisor groups), HEALTH_URL, SUPERVISORD_PID, HEALTH_ATTEMPTS, HEALTH_INTERVAL (seconds), LOCK_WAIT
# (seconds). Each step's own lines follow it. Besides functions it only sets variables: it changes nothing on
# the host.

RELEASES="$BASE/releases"
# shellcheck disable=SC2034  # the steps after this file use it (venvs, uploads)
SHARED="$BASE/shared"
CURRENT="$BASE/current"
export DEBIAN_FRONTEND=noninteractive
CHANGED=()
WROTE=no
WORKER_JOBS=()
log() { printf '==> [%ss] %s\n' "$SECONDS" "$*"; }
die() { printf '\n!!! RAINDROP DEPLOY FAILED: %s\n\n' "$*" >&2; exit 1; }
# install_file SRC DEST MODE OWNER: place SRC at DEST atomically, only when it
# differs in content, mode or owner; a changed DEST is added to CHANGED and sets WROTE=yes.
install_file() {
  local src=$1 dest=$2 mode=$3 owner=$4 tmp
  WROTE=no
  mkdir -p "$(dirname "$dest")"
  tmp=$(mktemp "$(dirname "$dest")/.raindrop.XXXXXX")
  cat "$src" > "$tmp"
  chmod "$mode" "$tmp"
  chown "$owner" "$tmp"
  if [ -f "$dest" ] && cmp -s "$tmp" "$dest" && [ "$(stat -c '%a %U:%G' "$dest")" = "$mode $owner" ]; then
    rm -f "$tmp"
  else
    mv -f "$tmp" "$dest"
    CHANGED+=("$dest")
    WROTE=yes
    log "wrote $dest"
  fi
}
# apply_files DIR: install the files listed in DIR/files.tsv (mode, owner, path, file, service to
# restart when it changed or -): a release's config files, or the secrets step's staged ones.
apply_files() {
  local manifest="$1/files.tsv" mode owner dest src restart
  [ -f "$manifest" ] || return 0
  while IFS=$'\t' read -r mode owner dest src restart; do
    install_file "$1/$src" "$dest" "$mode" "$owner"
    # A changed unit or drop-in takes effect only after daemon-reload, so reload before the restart.
    if [ "$WROTE" = yes ] && [[ "$dest" == /etc/systemd/* ]] && [ -d /run/systemd/system ]; then
      systemctl daemon-reload
    fi
    if [ "$restart" != - ] && [ "$WROTE" = yes ]; then svc_restart "$restart"; fi
    case "$dest" in
      /etc/nginx/sites-available/*) ln -sfn "$dest" "/etc/nginx/sites-enabled/${dest##*/}" ;;
    esac
  done < "$manifest"
}
# service helpers: systemd where it runs, plain init.d (e.g. a chroot) otherwise.
svc_enable() {
  if [ -d /run/systemd/system ]; then systemctl enable --quiet "$1"; else update-rc.d "$1" defaults >/dev/null; fi
}
# An init script that waits on a daemon which never detaches would hang the deploy: bound it.
svc_start() {
  service "$1" status >/dev/null 2>&1 || timeout 120 service "$1" start || die "$1 did not start (120 s)"
}
# timer_enable UNIT: enabled and started under systemd. Without systemd (a chroot) nothing can fire it.
timer_enable() {
  if [ -d /run/systemd/system ]; then systemctl enable --now --quiet "$1"; else log "no systemd here: $1 is installed and fires once the host boots systemd"; fi
}
svc_restart() {
  if [ "$1" = supervisor ]; then restart_supervisor; return; fi
  timeout 120 service "$1" restart || die "restarting $1 failed or hung (120 s)"
}
# supervisord stops its programs before it exits, celery's warm shutdown included. Debian's init script
# can start the new supervisord before the old one is gone: the new one fails, and the old one removes
# the socket on its way out. So: ask it to shut down, wait for it to exit, start it, wait for it.
restart_supervisor() {
  local pid
  # Under systemd, the unit does exactly that (ExecStop is supervisorctl shutdown). A shutdown behind its
  # back instead fails the unit's ExecStop, and Debian's unit waits 50 s before it starts supervisord again.
  if [ -d /run/systemd/system ]; then
    timeout 300 systemctl restart supervisor || die "restarting supervisor failed or hung (300 s)"
    ensure_supervisor
    return
  fi
  pid=$(cat "$SUPERVISORD_PID" 2>/dev/null || true)
  supervisorctl shutdown >/dev/null 2>&1 || true
  if [ -n "$pid" ]; then for _ in $(seq 240); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done; fi
  ensure_supervisor
}
# ensure_supervisor: supervisord is running and answers on its socket.
ensure_supervisor() {
  supervisorctl pid >/dev/null 2>&1 && return 0
  timeout 120 service supervisor start >/dev/null || die "supervisor did not start (120 s)"
  for _ in $(seq 120); do supervisorctl pid >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "supervisord does not answer on its socket after starting"
}
# switch_to RELEASE: point current at RELEASE atomically (a rename never leaves current missing).
switch_to() {
  rm -f "$BASE/.current.tmp"
  ln -s "$1" "$BASE/.current.tmp"
  mv -T "$BASE/.current.tmp" "$CURRENT"
  log "current -> $1"
}
# reload_app OLD_VENV: load the current release into the running services, gracefully.
# gunicorn gets HUP (new workers on the same socket: no request is refused); a full restart, one process
# after another, only when the venv, the env file or gunicorn.conf.py changed: HUP keeps the master's
# interpreter and environment, and the master-side part of gunicorn.conf.py (gevent's patching and the
# libraries it imports) belongs before the master listens, not into one that is already serving.
# celery restarts (warm shutdown within its stopwaitsecs) in the background. nginx reloads only a
# config that passes nginx -t.
reload_app() {
  local how=hup group name state
  [ "${1:-}" = "$(deps_of "$CURRENT")" ] || how=restart
  [[ " ${CHANGED[*]} " != *" $ENV_FILE "* ]] || how=restart
  [[ " ${CHANGED[*]} " != *" $GUNICORN_CONFIG "* ]] || how=restart
  ensure_supervisor
  supervisorctl reread >/dev/null || return 1
  supervisorctl update || return 1
  for group in "${WEB_PROGRAMS[@]}"; do
    while read -r name state _; do
      case "$state" in
        RUNNING) if [ "$how" = restart ]; then restart_gunicorn "$name" || return 1; else hup_gunicorn "$name" || return 1; fi ;;
        STARTING) ;;
        *) supervisorctl start "$name" || return 1 ;;
      esac
    done < <(supervisorctl status "$group" 2>&1 || true)
  done
  # Workers restart in the background (a warm shutdown takes seconds); wait_workers collects them.
  for group in "${WORKER_PROGRAMS[@]}"; do supervisorctl restart "$group" & WORKER_JOBS+=($!); done
  nginx -t -q || return 1
  if [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
    nginx -s reload || return 1
  else
    service nginx start || return 1
  fi
  log "reloaded ($how)"
}
# hup_gunicorn PROGRAM: HUP its gunicorn, then wait until the old workers stop listening, so that
# the health check that follows cannot be answered by the old code.
hup_gunicorn() {
  local master old pid listening still
  master=$(supervisorctl pid "$1")
  old=$(pgrep -P "$master" || true)
  supervisorctl signal HUP "$1" || return 1
  for _ in $(seq 300); do
    listening=$(ss -Hltnp 2>/dev/null || true)
    still=no
    for pid in $old; do [[ "$listening" == *"pid=$pid,"* ]] && still=yes; done
    [ $still = no ] && return 0
    sleep 0.1
  done
  log "the old gunicorn workers of $1 still listen 30 s after HUP"
  return 1
}
# restart_gunicorn PROGRAM: restart it, then wait until it answers on its own port, so that the next
# process is not stopped while this one still boots (its master imports the app's libraries before it
# listens; nginx sends their requests elsewhere meanwhile). supervisor names each process after its port
# (config/supervisor.conf.j2: raindrop-web-<port>). The first tries are refused by design, so curl stays quiet.
restart_gunicorn() {
  local port=${1##*-}
  supervisorctl restart "$1" || return 1
  for _ in $(seq 300); do
    curl -fs -o /dev/null --max-time 5 "http://127.0.0.1:$port/api/health" && return 0
    sleep 0.1
  done
  log "$1 does not answer on 127.0.0.1:$port 30 s after its restart"
  return 1
}
# wait_workers: the background worker restarts of reload_app all succeeded.
wait_workers() {
  local job status=0
  for job in "${WORKER_JOBS[@]}"; do wait "$job" || status=1; done
  WORKER_JOBS=()
  [ $status = 0 ] || log "a worker did not restart"
  return $status
}
# healthy: /api/health through nginx answers 2xx, retried while the new workers boot.
healthy() {
  for _ in $(seq "$HEALTH_ATTEMPTS"); do
    if curl -fsS -o /dev/null --max-time 5 "$HEALTH_URL"; then log "healthy: $HEALTH_URL"; return 0; fi
    sleep "$HEALTH_INTERVAL"
  done
  log "not healthy after $HEALTH_ATTEMPTS attempts: $HEALTH_URL"
  return 1
}
# deps_of RELEASE: the venv a release runs on.
deps_of() { readlink "$1/venv" 2>/dev/null || true; }
# previous_release: the newest release older than current that is not marked BAD_RELEASE.
previous_release() {
  local current name
  current=$(basename "$(readlink "$CURRENT")")
  # Release names are <UTC time>-<hash> (made by deploy, plain characters), so ls and sort order them by time.
  # shellcheck disable=SC2012
  for name in $(ls -1 "$RELEASES" | sort -r); do
    [[ "$name" < "$current" ]] || continue
    [ -f "$RELEASES/$name/REVISION" ] || continue
    [ -f "$RELEASES/$name/BAD_RELEASE" ] && continue
    echo "$RELEASES/$name"; return 0
  done
  return 1
}
# take_lock: one deploy or rollback at a time per host.
take_lock() {
  install -d -m 755 "$BASE"
  exec 9>"$BASE/.deploy.lock"
  flock -w "$LOCK_WAIT" 9 || die "another deploy holds $BASE/.deploy.lock"
}
release_lock() { flock -u 9; }
