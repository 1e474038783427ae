#!/usr/bin/env bash
# The Pulumi toolchain from the Go module proxy (issue 9 §1), versions pinned in scripts/toolchain.env.
#
#   CLI               a pinned `pulumi` on PATH, else built once into $RAINDROP_TOOLCHAIN_DIR/bin
#   language host     pulumi-language-python (+ pulumi-language-python-exec beside it)
#   command provider  pulumi-resource-command at the commit of tag v1.2.1
#
# Idempotent and fast when everything is there (a version check, no build). It writes only under
# $RAINDROP_TOOLCHAIN_DIR. A part the proxy refuses is reported as "blocked: <go command> -> <error>" and does
# not fail the script: the CLI alone is what the tests need today. Exit 1 only when the CLI cannot be had.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=toolchain.env
. "$here/toolchain.env"

started=$SECONDS
dir=$RAINDROP_TOOLCHAIN_DIR
# RAINDROP_TOOLCHAIN_BIN: build into another directory (e.g. to try the build) with the same warm caches.
bin=${RAINDROP_TOOLCHAIN_BIN:-$dir/bin}
want=v$PULUMI_VERSION
# No run of this toolchain may fetch a plugin behind our back: every plugin is built here or absent.
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true PULUMI_SKIP_UPDATE_CHECK=true
# The project's own Go caches; nothing lands in ~/go. GOTOOLCHAIN=local: never download another Go.
export GOMODCACHE=$dir/go/mod GOCACHE=$dir/go/build GOFLAGS=-mod=mod GOTOOLCHAIN=local

log() { printf 'install-pulumi: %s\n' "$*"; }
version_of() { "$1" version 2>/dev/null || true; }
need_go() {
  command -v go >/dev/null || { log "go is missing: install Go (1.25 or newer) from https://go.dev/dl/"; exit 1; }
}

build_cli() {
  need_go
  local wrap=$dir/cli-$want
  log "building the Pulumi CLI $want with $(go version | cut -d' ' -f3) in $wrap (cold: many minutes; progress below)"
  mkdir -p "$wrap" "$bin"
  # A scratch module: `go install pkg/v3/cmd/pulumi@version` refuses pkg's `replace ../sdk`, so require pkg
  # and sdk at the same version here, and restate pkg's clipboard replace (replaces apply only in the main module).
  cat > "$wrap/go.mod.next" <<GOMOD
module raindrop.local/pulumi-cli

go 1.25

require (
	github.com/pulumi/pulumi/pkg/v3 $want
	github.com/pulumi/pulumi/sdk/v3 $want
)

replace $PULUMI_CLIPBOARD_REPLACE
GOMOD
  if ! cmp -s "$wrap/go.mod.next" "$wrap/go.mod.in"; then
    mv "$wrap/go.mod.next" "$wrap/go.mod.in"
    cp "$wrap/go.mod.in" "$wrap/go.mod"
    rm -f "$wrap/go.sum"
  else
    rm -f "$wrap/go.mod.next"
  fi
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"\n' > "$wrap/tools.go"
  log "resolving modules (go mod tidy)"
  (cd "$wrap" && go mod tidy)
  log "compiling; every 50th package shown, the full output in $dir/cli-build.log"
  if ! (cd "$wrap" && go build -v -o "$bin/.pulumi.tmp" \
      -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$want" \
      github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) 2>&1 | tee "$dir/cli-build.log" |
      awk '{ n++; if (n % 50 == 0) { printf "  %d packages, at %s\n", n, $0; fflush() } }'; then
    tail -n 30 "$dir/cli-build.log"
    log "the CLI build failed (above)"
    exit 1
  fi
  mv -f "$bin/.pulumi.tmp" "$bin/pulumi"
}

# go install of a plugin; on failure print what the proxy said and go on.
try_install() {
  local what=$1; shift
  local output
  need_go
  mkdir -p "$bin" "$dir/scratch"
  if output=$(cd "$dir/scratch" && GOBIN=$bin "$@" 2>&1); then
    log "$what: built into $bin"
    return 0
  fi
  # The whole error on one line, e.g. "reading https://…/@v/….info: 403 Forbidden server response: …".
  log "blocked: $what: $* -> $(printf '%s' "$output" | tr '\n\t' '  ' | tr -s ' ')"
  return 1
}

# --- the CLI -----------------------------------------------------------------------------------------------
cli=
if found=$(command -v pulumi) && [ "$(version_of "$found")" = "$want" ]; then
  cli=$found
  log "pulumi $want on PATH: $cli"
elif [ -x "$bin/pulumi" ] && [ "$(version_of "$bin/pulumi")" = "$want" ]; then
  cli=$bin/pulumi
  log "pulumi $want already built: $cli"
else
  build_cli
  cli=$bin/pulumi
  [ "$(version_of "$cli")" = "$want" ] || { log "the built $cli does not report $want"; exit 1; }
  log "built $cli ($want)"
fi

# --- the Python language host and the command provider --------------------------------------------------
# Until the proxy serves them, `pulumi preview/up` of this Python program cannot run here (issue 9 §3, §4).
if [ -x "$bin/pulumi-language-python" ]; then
  log "pulumi-language-python already built: $bin/pulumi-language-python"
elif try_install pulumi-language-python \
    go install "github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3@$PULUMI_LANGUAGE_PYTHON_VERSION"; then
  # The host runs the program through this script, which ships in the sdk module beside the Go code.
  exec_script=$GOMODCACHE/github.com/pulumi/pulumi/sdk/v3@$want/python/cmd/pulumi-language-python-exec
  install -m 755 "$exec_script" "$bin/pulumi-language-python-exec"
fi

if [ -x "$bin/pulumi-resource-command" ]; then
  log "pulumi-resource-command already built: $bin/pulumi-resource-command"
elif try_install "pulumi-resource-command $PULUMI_COMMAND_VERSION" \
    go install -ldflags "-X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$PULUMI_COMMAND_VERSION" \
    "github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command@$PULUMI_COMMAND_PSEUDO_VERSION"; then
  # Registered in the toolchain's own PULUMI_HOME, not ~/.pulumi.
  PULUMI_HOME=$dir/pulumi-home "$cli" plugin install resource command "$PULUMI_COMMAND_VERSION" \
    --file "$bin/pulumi-resource-command"
fi

log "done in $((SECONDS - started)) s; CLI: $cli"
