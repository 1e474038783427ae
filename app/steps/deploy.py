"""deploy: one release, the Capistrano/Deployer life cycle, as one bash script.

lock → unpack into releases/<timestamp>-<hash> → venv (shared per dependency hash) → config files →
shared uploads linked → (a backup, when migrations run on a live database) migrations → atomic switch →
graceful reload → health gate (switch back on failure) → keep the last N → unlock.

Release layout (what config templates point at, through /srv/raindrop/current):
  client/                  the client build: nginx root
  lib/raindrop_server/     the server package (pip --target), imported through current/lib by a .pth
                           in the venv, so gunicorn's HUP loads the new code (gunicorn #394, #1898)
  lib/bin/raindrop         the Flask CLI
  static -> lib/raindrop_server/static   Flask's static files
  uploads -> /srv/raindrop/shared/uploads
  venv -> /srv/raindrop/shared/venvs/<deps hash>   gunicorn, celery and every dependency
  host/                    the config files this release carries (tokens, not secrets) + files.tsv
  REVISION, DEPS_HASH      what was deployed; BAD_RELEASE marks one that failed or was rolled back
"""

from __future__ import annotations

import hashlib
from textwrap import indent

from app.steps.backup import pre_migration_backup
from app.steps.host import Bundle, HostConfig, HostFile
from app.steps.rollback import rollback_command
from app.steps.script import Script
from app.steps.shell import heredoc, lines, prelude, q, write_files
from app.steps.tls import deploy_tls


def files_hash(files: tuple[HostFile, ...]) -> str:
    """A digest of the rendered files (tokens, not secrets): part of a release's identity."""
    digest = hashlib.sha256()
    for f in files:
        for part in (f.path, f.mode, f.owner, f.content):
            digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


# A digest of a release's migration scripts (names and contents), or "none" when it has none.
MIGRATIONS_OF = (
    "migrations_of() { (cd \"$1/lib/raindrop_server/migrations/versions\" 2>/dev/null "
    "&& sha256sum -- *.py | sha256sum | cut -c1-16) || echo none; }"
)


def _cleanup(config: HostConfig) -> str:
    return lines(
        "# keep the newest releases (current always), their venvs and bundles; drop the rest.",
        "cleanup() {",
        '  local current name count=0 venv link bundle hash used',
        '  current=$(basename "$(readlink "$CURRENT")")',
        '  for name in $(ls -1 "$RELEASES" | sort -r); do',
        "    count=$((count + 1))",
        f'    if [ "$name" != "$current" ] && [ $count -gt {config.keep_releases} ]; then',
        '      rm -rf "${RELEASES:?}/$name"; log "removed old release $name"',
        "    fi",
        "  done",
        '  for venv in "$SHARED"/venvs/*; do',
        '    [ -d "$venv" ] || continue',
        "    used=no",
        '    for link in "$RELEASES"/*/venv; do [ "$(readlink "$link")" = "$venv" ] && used=yes; done',
        '    if [ $used = no ]; then rm -rf "$venv"; log "removed unused venv $venv"; fi',
        "  done",
        '  for bundle in "$BUNDLE_DIR"/raindrop-*.tar.gz; do',
        '    [ -e "$bundle" ] || continue',
        '    hash=${bundle#"$BUNDLE_DIR"/raindrop-}; hash=${hash%.tar.gz}',
        '    compgen -G "$RELEASES/*-$hash" >/dev/null || rm -f "$bundle"',
        "  done",
        "}",
    )


# One phase of a step: its name (what a test or a reader compares) and its bash text, in the order they run.
Phase = tuple[str, str]


def _revision_files(config: HostConfig) -> str:
    revision_files = files_hash(config.app_files)
    if config.client_index is not None:
        revision_files += "-" + hashlib.sha256(config.client_index.encode()).hexdigest()[:8]
    return revision_files


def deploy_phases(config: HostConfig, bundle: Bundle) -> list[Phase]:
    """The deploy's phases in order; deploy() is their text joined. Only "client index" is optional."""
    phases: list[Phase] = [
        ("prelude", prelude(config)),
        ("bundle settings", lines(
            "export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1",
            f"HASH={bundle.hash}",
            f"DEPS_HASH={bundle.deps_hash}",
            f"BUNDLE={q(bundle.remote_path)}",
            f"BUNDLE_DIR={q(bundle.remote_dir)}",
            f"BUNDLE_SHA256={bundle.sha256}",
            _cleanup(config),
            MIGRATIONS_OF,
        )),
        ("lock", lines("take_lock")),
        ("skip if current", lines(
            '[ -f "$SECRETS_FILE" ] || die "$SECRETS_FILE is missing: run the secrets step first"',
            # A digest of the secrets and staged files is in the revision, so rotated secrets redeploy; the
            # values themselves never appear in this script.
            'secrets_digest() { { cat "$SECRETS_FILE" "$STAGED"/* 2>/dev/null || true; } | sha256sum | cut -c1-16; }',
            f'REVISION="$HASH {_revision_files(config)} $(secrets_digest)"',
            'if [ -L "$CURRENT" ] && [ "$(cat "$CURRENT/REVISION" 2>/dev/null)" = "$REVISION" ]; then',
            '  log "release $HASH is already current with these files: nothing to do"',
            # Still a chance for the certificate: a redeploy is what an operator does once DNS points here.
            indent(deploy_tls(config), "  "),
            "  exit 0",
            "fi",
        )),
        ("check bundle", lines(
            '[ -f "$BUNDLE" ] || die "bundle $BUNDLE is missing: upload it first"',
            'echo "$BUNDLE_SHA256  $BUNDLE" | sha256sum -c --quiet - || die "bundle $BUNDLE does not match its sha256"',
        )),
        ("release dir", lines(
            'PREVIOUS=$(readlink "$CURRENT" || true)',
            # Names sort by time; two deploys within one second would not, so the second waits.
            "while compgen -G \"$RELEASES/$(date -u +%Y%m%d%H%M%S)-*\" >/dev/null; do sleep 1; done",
            'RELEASE="$RELEASES/$(date -u +%Y%m%d%H%M%S)-$HASH"',
            "SWITCHED=no",
            "# A failure before the switch leaves no trace: the half-made release goes, the live files return.",
            "on_exit() {",
            '  local status=$?',
            '  if [ $status -ne 0 ] && [ $SWITCHED = no ]; then',
            '    rm -rf "$RELEASE"',
            '    [ -z "$PREVIOUS" ] || apply_files "$PREVIOUS/host"',
            '    printf "\\n!!! RAINDROP DEPLOY FAILED before the switch; %s stays live\\n\\n" '
            '"${PREVIOUS:-nothing}" >&2',
            "  fi",
            "}",
            "trap on_exit EXIT",
        )),
        ("unpack", lines(
            'log "unpack $BUNDLE into $RELEASE"',
            'install -d -m 755 "$RELEASE"',
            'tar -xzf "$BUNDLE" -C "$RELEASE" --no-same-owner',
            '[ "$(cat "$RELEASE/DEPS_HASH")" = "$DEPS_HASH" ] || die "the bundle\'s DEPS_HASH is not $DEPS_HASH"',
        )),
        ("venv", lines(
            'DEPS="$SHARED/venvs/$DEPS_HASH"',
            'if [ -f "$DEPS/.complete" ]; then',
            '  log "venv $DEPS reused: dependencies unchanged"',
            "else",
            '  log "venv $DEPS from the wheelhouse (no index)"',
            '  rm -rf "$DEPS"',
            '  python3 -m venv "$DEPS"',
            '  "$DEPS/bin/pip" install --quiet --no-index --find-links "$RELEASE/wheels/deps" '
            '-r "$RELEASE/wheels/deps/requirements.txt"',
            '  echo "$CURRENT/lib" > '
            '"$("$DEPS/bin/python" -c \'import sysconfig; print(sysconfig.get_path("purelib"))\')'
            '/raindrop-current.pth"',
            '  touch "$DEPS/.complete"',
            "fi",
            'ln -s "$DEPS" "$RELEASE/venv"',
        )),
        ("server", lines(
            '"$DEPS/bin/pip" install --quiet --no-index --no-deps --target "$RELEASE/lib" "$RELEASE"/wheels/app/*.whl',
            'ln -s lib/raindrop_server/static "$RELEASE/static"',
        )),
    ]
    if config.client_index is not None:
        phases.append(("client index", heredoc('cat > "$RELEASE/client/index.html"', config.client_index)))
    phases += [
        ("uploads", lines('ln -s "$SHARED/uploads" "$RELEASE/uploads"')),
        ("config files", lines(
            'log "config files"',
            write_files('"$RELEASE/host"', config.app_files),
            'echo "$REVISION" > "$RELEASE/REVISION"',
            'apply_files "$STAGED"',
            'apply_files "$RELEASE/host"',
        )),
        ("rollback command", lines(
            "tmp=$(mktemp)",
            heredoc('cat > "$tmp"', rollback_command(config)),
            f'install_file "$tmp" {q(config.rollback_command)} 755 root:root',
            'rm -f "$tmp"',
        )),
        ("migrations", lines(
            '[ -f "$ENV_FILE" ] || die "$ENV_FILE is missing: the app files must include the env file"',
            # The live release ran (or skipped, by this same rule) its migrations; the same set needs no new
            # run, and skipping Alembic's start-up takes seconds off a code-only redeploy.
            'if [ -L "$CURRENT" ] && [ "$(migrations_of "$RELEASE")" = "$(migrations_of "$CURRENT")" ]; then',
            '  log "migrations unchanged since the live release: none to run"',
            "else",
            indent(pre_migration_backup(config), "  "),
            '  log "migrations"',
            '  (set -a; . "$ENV_FILE"; set +a; cd "$RELEASE"; '
            'PYTHONPATH="$RELEASE/lib" runuser -u "$APP_USER" -- "$RELEASE/lib/bin/raindrop" db upgrade)',
            "fi",
        )),
        ("switch", lines(
            'OLD_VENV=$(deps_of "$CURRENT")',
            'switch_to "$RELEASE"',
            "SWITCHED=yes",
        )),
        ("health gate", lines(
            'if reload_app "$OLD_VENV" && healthy && wait_workers; then',
            '  log "release $(basename "$RELEASE") is live"',
            indent(deploy_tls(config), "  "),
            "else",
            "  wait_workers || true",
            '  date -u +%Y-%m-%dT%H:%M:%SZ > "$RELEASE/BAD_RELEASE"',
            '  [ -n "$PREVIOUS" ] || '
            'die "release $(basename "$RELEASE") is not healthy and there is no previous release"',
            '  log "release $(basename "$RELEASE") is not healthy: switching back to $PREVIOUS"',
            '  switch_to "$PREVIOUS"',
            '  apply_files "$PREVIOUS/host"',
            '  reload_app "$DEPS" && healthy && wait_workers || log "the previous release is not healthy either"',
            '  die "release $(basename "$RELEASE") failed its health check; rolled back to $(basename "$PREVIOUS")"',
            "fi",
        )),
        ("cleanup", lines("cleanup")),
        ("unlock", lines("release_lock")),
    ]
    return phases


def deploy(config: HostConfig, bundle: Bundle) -> Script:
    """Deploy `bundle` (already uploaded to bundle.remote_path) with the config's app files."""
    return Script(name="deploy", body=lines(text for _name, text in deploy_phases(config, bundle)))
