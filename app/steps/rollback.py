"""rollback: put the previous good release (or a named one) back live.

Two ways to run it, the same text either way:
  - on the host, as root: `raindrop-rollback` (previous good release) or `raindrop-rollback <release>`
    (a directory name under /srv/raindrop/releases); every deploy installs it in /usr/local/bin;
  - from a checkout: `python -m app.steps.rollback [release]` prints the script, e.g.
    `python -m app.steps.rollback | ssh root@host bash`.

The release rolled back from is marked BAD_RELEASE so a later rollback skips it (as Deployer does).
Migrations are not undone: keep them backward compatible (expand, then contract in a later release).
"""

from __future__ import annotations

import re
import sys

from app.steps.host import HostConfig
from app.steps.script import Script
from app.steps.shell import lines, prelude, q

_RELEASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def rollback_phases(config: HostConfig, target_expression: str) -> list[tuple[str, str]]:
    """The rollback's phases in order (name, bash), as app.steps.deploy.deploy_phases gives the deploy's."""
    return [
        ("prelude", prelude(config)),
        ("target", lines(f"TARGET={target_expression}")),
        ("lock", lines("take_lock")),
        ("choose release", lines(
            '[ -L "$CURRENT" ] || die "no current release to roll back from"',
            'FROM=$(readlink "$CURRENT")',
            'if [ -n "$TARGET" ]; then',
            '  TO="$RELEASES/${TARGET##*/}"',
            '  [ -f "$TO/REVISION" ] || '
            'die "no release $TARGET in $RELEASES; there are: $(ls "$RELEASES" | tr "\\n" " ")"',
            "else",
            '  TO=$(previous_release) || die "no earlier good release to roll back to"',
            "fi",
            'if [ "$TO" = "$FROM" ]; then log "$(basename "$TO") is already current"; exit 0; fi',
        )),
        ("switch", lines(
            'log "rolling back from $(basename "$FROM") to $(basename "$TO")"',
            'switch_to "$TO"',
            'apply_files "$TO/host"',
        )),
        ("reload", lines('reload_app "$(deps_of "$FROM")" || die "reload failed after switching to $TO"')),
        ("mark releases", lines(
            'rm -f "$TO/BAD_RELEASE"',
            'if [[ "$(basename "$TO")" < "$(basename "$FROM")" ]]; then',
            '  date -u +%Y-%m-%dT%H:%M:%SZ > "$FROM/BAD_RELEASE"',
            "fi",
        )),
        ("health gate", lines(
            'healthy && wait_workers || die "rolled back to $(basename "$TO") but it is not healthy"',
            'log "$(basename "$TO") is live"',
        )),
        ("unlock", lines("release_lock")),
    ]


def _body(config: HostConfig, target_expression: str) -> str:
    return lines(text for _name, text in rollback_phases(config, target_expression))


def rollback(config: HostConfig, target: str | None = None) -> Script:
    """Roll back to `target` (a release directory name) or, without one, the previous good release."""
    if target is not None and not _RELEASE_NAME.match(target):
        raise ValueError(f"release name {target!r} must be a directory name like 20260101120000-<hash>")
    return Script(name="rollback", body=_body(config, q(target or "")))


def rollback_command(config: HostConfig) -> str:
    """The host command config.rollback_command: the same script, the release as its argument."""
    return Script(name="raindrop-rollback", body=_body(config, '"${1:-}"')).text()


def main(argv: list[str]) -> int:
    """Print the rollback script for the default host layout."""
    if len(argv) > 1:
        print("usage: python -m app.steps.rollback [release]", file=sys.stderr)
        return 2
    print(rollback(HostConfig.from_defaults(), argv[0] if argv else None).text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
