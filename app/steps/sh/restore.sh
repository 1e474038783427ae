# shellcheck shell=bash
# raindrop-restore NAME: put a backup of raindrop-backup back, database and uploads, and the site live again.
# A NAME not kept on this host is fetched from the bucket's backups/ prefix first, when there is a bucket.
#
# Sourced into the command app/steps/backup.py builds, after the shared prelude (log, die, take_lock,
# ensure_supervisor, healthy, …) and BACKUP_CONF, LOCAL_DB, LOCAL_REDIS, DB_CREATE_OPTIONS.
#
# Order: verify everything first (the checksum file, the archive's members, the manifest's sizes and
# sha256s); only an archive that passes gets to stop the app. A truncated or altered one is refused and
# nothing on the host changes. Then: stop gunicorn and celery, recreate the database from the dump,
# swap the uploads directory, empty the app's Redis cache (it would serve the timelines of the state
# left behind), start the app, pass the health check.

[ -f "$BACKUP_CONF" ] || die "$BACKUP_CONF is missing: provision places it"
# shellcheck source=/dev/null
. "$BACKUP_CONF"

if [ "$LOCAL_DB" != yes ]; then
  die "the database is a managed service here: restore it from its own backups (RDS console or API)"
fi

kept_backups() {
  find "$BACKUP_DIR" -maxdepth 1 -name 'raindrop-*.tar.gz' -printf '%f\n' 2>/dev/null | sort | sed 's/\.tar\.gz$//' |
    tr '\n' ' '
}

NAME=${1:-}
NAME=${NAME##*/}
NAME=${NAME%.sha256}
NAME=${NAME%.tar.gz}
[ -n "$NAME" ] || die "usage: raindrop-restore <backup>; kept in $BACKUP_DIR: $(kept_backups)"
[[ $NAME =~ ^raindrop-[0-9]{8}T[0-9]{6}Z-[a-z0-9-]+$ ]] ||
  die "'$NAME' is not a backup name like raindrop-20260101T033000Z-daily"
ARCHIVE="$BACKUP_DIR/$NAME.tar.gz"

umask 077
take_lock # no deploy or rollback meanwhile
install -d -m 700 -o root -g root "$BACKUP_DIR"
exec 8>"$BACKUP_DIR/.lock"
flock -w "$BACKUP_LOCK_WAIT" 8 || die "another backup or restore holds $BACKUP_DIR/.lock"

# Not on this host (a replacement for a lost one): its off-host copy, when there is a bucket. The copy goes
# through the same checks below as a local archive.
if [ ! -f "$ARCHIVE" ] && [ -n "$OSS_BUCKET" ]; then
  [ -x "$CURRENT/venv/bin/python" ] || die "no backup $NAME here, and no deployed release whose python could fetch it"
  log "$NAME is not on this host: fetching it from oss://$OSS_BUCKET/$OSS_PREFIX"
  "$CURRENT/venv/bin/python" "$OSS_UPLOADER" --endpoint "$OSS_ENDPOINT" --bucket "$OSS_BUCKET" \
    --prefix "$OSS_PREFIX" --role "$OSS_RAM_ROLE" get "$NAME" "$BACKUP_DIR" ||
    die "no backup $NAME in $BACKUP_DIR, and fetching it from oss://$OSS_BUCKET/$OSS_PREFIX failed"
fi
[ -f "$ARCHIVE" ] || die "no backup $NAME in $BACKUP_DIR; kept: $(kept_backups)"

WORK=$(mktemp -d "$BACKUP_DIR/.restore.XXXXXX")
UPLOADS_NEW="$(dirname "$UPLOADS_DIR")/.uploads.restore"
UPLOADS_OLD="$(dirname "$UPLOADS_DIR")/.uploads.old"
STOPPED=no
finish() {
  local status=$?
  rm -rf "$WORK" "$UPLOADS_NEW"
  if [ $status -ne 0 ] && [ $STOPPED = yes ]; then
    # Whatever state the data is in, the app runs again, and the failure says what to do.
    supervisorctl start "${WEB_PROGRAMS[@]}" "${WORKER_PROGRAMS[@]}" >/dev/null 2>&1 || true
    printf '\n!!! RAINDROP RESTORE FAILED after the app was stopped; run raindrop-restore %s again\n\n' "$NAME" >&2
  fi
}
trap finish EXIT

refuse() { die "refusing $NAME: $*; nothing was restored"; }

log "verify $NAME"
[ -f "$ARCHIVE.sha256" ] || refuse "it has no checksum file $NAME.tar.gz.sha256"
expected=$(cut -d' ' -f1 "$ARCHIVE.sha256")
actual=$(sha256sum < "$ARCHIVE" | cut -d' ' -f1)
[ "$expected" = "$actual" ] || refuse "the archive does not match its sha256 (truncated or altered)"
members=$(tar -tzf "$ARCHIVE" 2>/dev/null | sort | tr '\n' ' ') || refuse "it is not a readable .tar.gz"
[ "$members" = "MANIFEST db.sql uploads.tar " ] || refuse "it holds '$members', not MANIFEST db.sql uploads.tar"
tar -xzf "$ARCHIVE" -C "$WORK" --no-same-owner || refuse "it does not unpack"
[ "$(head -n1 "$WORK/MANIFEST")" = "raindrop-backup 1" ] || refuse "its MANIFEST is not a raindrop-backup 1 manifest"
listed=()
while read -r kind file size sum; do
  [ "$kind" = file ] || continue
  case "$file" in db.sql | uploads.tar) ;; *) refuse "its manifest lists an unknown file '$file'" ;; esac
  [ "$(stat -c %s "$WORK/$file")" = "$size" ] || refuse "$file is not the $size bytes its manifest says"
  [ "$(sha256sum < "$WORK/$file" | cut -d' ' -f1)" = "$sum" ] || refuse "$file does not match its manifest's sha256"
  listed+=("$file")
done < "$WORK/MANIFEST"
[ "${listed[*]}" = "db.sql uploads.tar" ] || refuse "its manifest lists '${listed[*]}', not db.sql and uploads.tar"
# Every upload lands inside the uploads directory: relative names, no '..', files and directories only.
types=$(tar -tvf "$WORK/uploads.tar" | cut -c1 | sort -u | tr -d '\n') || refuse "uploads.tar does not list"
paths=$(tar -tf "$WORK/uploads.tar") || refuse "uploads.tar does not list"
if [[ ! $types =~ ^[-d]*$ ]] || grep -qE '^/|(^|/)\.\.(/|$)' <<< "$paths"; then
  refuse "uploads.tar holds links, devices or paths outside the uploads directory"
fi
log "verified: $(grep -E '^(created|release|alembic) ' "$WORK/MANIFEST" | tr '\n' ' ')"

log "uploads unpacked beside $UPLOADS_DIR"
rm -rf "$UPLOADS_NEW"
install -d -m 755 -o "$APP_USER" -g "$APP_USER" "$UPLOADS_NEW"
# Modes as backed up (nginx reads the uploads; the umask of 077 above must not apply), owner the app user.
tar -xf "$WORK/uploads.tar" -C "$UPLOADS_NEW" --no-same-owner --same-permissions
chown -R "$APP_USER:$APP_USER" "$UPLOADS_NEW"
chmod 755 "$UPLOADS_NEW"

log "stop the app"
ensure_supervisor
STOPPED=yes
# A program that is down already (crashed, stopped by hand) makes stop complain: the restore goes on.
supervisorctl stop "${WEB_PROGRAMS[@]}" "${WORKER_PROGRAMS[@]}" >/dev/null || log "some programs were not running"

log "database $DB_NAME recreated from the dump"
mariadb --protocol=socket --user=root -e "DROP DATABASE IF EXISTS \`$DB_NAME\`; CREATE DATABASE \`$DB_NAME\` $DB_CREATE_OPTIONS;"
mariadb --protocol=socket --user=root "$DB_NAME" < "$WORK/db.sql" || die "loading the dump into $DB_NAME failed"

log "uploads swapped in"
rm -rf "$UPLOADS_OLD"
if [ -d "$UPLOADS_DIR" ]; then mv -T "$UPLOADS_DIR" "$UPLOADS_OLD"; fi
mv -T "$UPLOADS_NEW" "$UPLOADS_DIR"
rm -rf "$UPLOADS_OLD"

if [ "$LOCAL_REDIS" = yes ]; then
  log "the app's Redis cache emptied (db $REDIS_CACHE_DB)"
  # shellcheck source=/dev/null
  . "$SECRETS_FILE"
  REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" -n "$REDIS_CACHE_DB" FLUSHDB >/dev/null
fi

log "start the app"
supervisorctl start "${WEB_PROGRAMS[@]}" "${WORKER_PROGRAMS[@]}" >/dev/null
healthy || die "$NAME is restored, but the site is not healthy"
STOPPED=no
log "restored $NAME"
