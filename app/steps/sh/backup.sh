# shellcheck shell=bash
# raindrop-backup [LABEL]: one archive of the app's database and uploads, with a manifest of checksums.
#
# Sourced into the command app/steps/backup.py builds, after the shared prelude (log, die, $CURRENT, …) and
# these variables: BACKUP_CONF (the settings file config/backup.conf.j2 renders), LOCAL_DB (yes/no),
# OSS_UPLOADER (app/backup_oss.py on the host). The settings file gives BACKUP_DIR, BACKUP_KEEP, DB_NAME,
# UPLOADS_DIR, BACKUP_LOCK_WAIT and the OSS_* settings of the off-host copy.
#
# The archive is $BACKUP_DIR/raindrop-<UTC time>-<label>.tar.gz (gzip), root-only, holding exactly:
#   MANIFEST     format, time, label, database, release, and "file NAME SIZE SHA256" per member
#   db.sql       mariadb-dump --single-transaction --routines: one consistent snapshot, no table locked
#   uploads.tar  the uploads directory, taken after the dump (an upload the dump names is in it)
# and beside it NAME.tar.gz.sha256, the checksum of the whole file, which raindrop-restore checks first.
#
# Exit status: 0 done; 3 the archive is kept here but its off-host copy failed; anything else: no archive.

[ -f "$BACKUP_CONF" ] || die "$BACKUP_CONF is missing: provision places it"
# shellcheck source=/dev/null
. "$BACKUP_CONF"

if [ "$LOCAL_DB" != yes ]; then
  die "the database is a managed service here (RDS keeps its own backups, see the stack's backup policy) and" \
    "uploads live in the bucket's uploads/ prefix: this host holds nothing to back up"
fi

LABEL=${1:-manual}
[[ $LABEL =~ ^[a-z0-9][a-z0-9-]{0,31}$ ]] || die "backup label '$LABEL' must be 1-32 of a-z 0-9 - (e.g. daily)"

umask 077
install -d -m 700 -o root -g root "$BACKUP_DIR"
# One backup or restore at a time: a second waits, then gives up naming the lock.
exec 8>"$BACKUP_DIR/.lock"
flock -w "$BACKUP_LOCK_WAIT" 8 || die "another backup or restore holds $BACKUP_DIR/.lock"

# Names sort by time (retention and `ls` rely on it); a second backup within the same second waits.
while compgen -G "$BACKUP_DIR/raindrop-$(date -u +%Y%m%dT%H%M%SZ)-*" >/dev/null; do sleep 1; done
NAME="raindrop-$(date -u +%Y%m%dT%H%M%SZ)-$LABEL"
ARCHIVE="$BACKUP_DIR/$NAME.tar.gz"
WORK=$(mktemp -d "$BACKUP_DIR/.work.XXXXXX")
# A failed backup leaves no half-written archive behind.
trap 'rm -rf "$WORK" "$ARCHIVE.tmp" "$ARCHIVE.sha256.tmp"' EXIT

log "backup $NAME: database $DB_NAME"
mariadb-dump --protocol=socket --user=root --single-transaction --routines --triggers --hex-blob \
  --default-character-set=utf8mb4 "$DB_NAME" > "$WORK/db.sql" || die "mariadb-dump of $DB_NAME failed"
alembic=$(mariadb --protocol=socket --user=root --batch --skip-column-names \
  -e "SELECT version_num FROM alembic_version" "$DB_NAME" 2>/dev/null | paste -sd ' ' - || true)

log "backup $NAME: uploads $UPLOADS_DIR"
[ -d "$UPLOADS_DIR" ] || die "$UPLOADS_DIR is missing: provision makes it"
# tar's status 1 is "a file changed while read": an upload being written now; it is not in the dump either.
tar -cf "$WORK/uploads.tar" -C "$UPLOADS_DIR" . || [ $? -eq 1 ] || die "tar of $UPLOADS_DIR failed"

file_line() { printf 'file %s %s %s\n' "$1" "$(stat -c %s "$WORK/$1")" "$(sha256sum < "$WORK/$1" | cut -d' ' -f1)"; }
{
  echo "raindrop-backup 1"
  echo "name $NAME"
  echo "created $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "label $LABEL"
  echo "database $DB_NAME"
  echo "release $(basename "$(readlink "$CURRENT" 2>/dev/null || echo none)")"
  echo "alembic ${alembic:-none}"
  file_line db.sql
  file_line uploads.tar
} > "$WORK/MANIFEST"

tar -czf "$ARCHIVE.tmp" -C "$WORK" MANIFEST db.sql uploads.tar
# The checksum file first, then the archive under its name: an archive never appears without one.
printf '%s  %s\n' "$(sha256sum < "$ARCHIVE.tmp" | cut -d' ' -f1)" "$NAME.tar.gz" > "$ARCHIVE.sha256.tmp"
mv -f "$ARCHIVE.sha256.tmp" "$ARCHIVE.sha256"
mv -f "$ARCHIVE.tmp" "$ARCHIVE"
log "backup $NAME: $(stat -c %s "$ARCHIVE") bytes in $ARCHIVE"

# Retention: the newest BACKUP_KEEP archives stay (names sort by time), whatever their label.
mapfile -t kept < <(find "$BACKUP_DIR" -maxdepth 1 -name 'raindrop-*.tar.gz' -printf '%f\n' | sort)
for ((i = 0; i < ${#kept[@]} - BACKUP_KEEP; i++)); do
  rm -f "$BACKUP_DIR/${kept[i]}" "$BACKUP_DIR/${kept[i]}.sha256"
  log "removed old backup ${kept[i]%.tar.gz}"
done
find "$BACKUP_DIR" -maxdepth 1 -name 'raindrop-*.tar.gz.sha256' -print0 | while IFS= read -r -d '' sum; do
  [ -f "${sum%.sha256}" ] || rm -f "$sum"
done

status=0
if [ -n "$OSS_BUCKET" ]; then
  log "backup $NAME: copy to oss://$OSS_BUCKET/$OSS_PREFIX (ECS RAM role $OSS_RAM_ROLE)"
  if [ ! -x "$CURRENT/venv/bin/python" ]; then
    log "no deployed release yet, so no python with oss2: $NAME stays on this host only"
    status=3
  elif ! "$CURRENT/venv/bin/python" "$OSS_UPLOADER" --endpoint "$OSS_ENDPOINT" --bucket "$OSS_BUCKET" \
    --prefix "$OSS_PREFIX" --role "$OSS_RAM_ROLE" put "$ARCHIVE" "$ARCHIVE.sha256"; then
    log "the off-host copy of $NAME failed: it stays on this host only"
    status=3
  fi
fi
echo "$NAME"
exit $status
