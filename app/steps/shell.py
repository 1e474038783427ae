"""Small pure combinators that build bash text. Nothing here runs anything.

Each host step is a prelude (the host's variables and the shared functions of app/steps/sh/common.sh) plus
its own lines; one copy of the functions means provision, deploy and rollback switch, install files and
reload in exactly one way.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path

from app.steps.host import HostConfig, HostFile

q = shlex.quote

HEREDOC_END = "RAINDROP_EOF"
# The shared shell functions, read from the checkout when a script is built (like backup.sh and restore.sh).
COMMON_SH = Path(__file__).resolve().parent / "sh" / "common.sh"


def heredoc(command: str, content: str) -> str:
    """`command` fed `content` verbatim (no expansion) through a quoted here-document.

    The end marker is RAINDROP_EOF, numbered up when the content has such a line (a script that
    itself holds here-documents, like the rollback command).
    """
    content_lines = set(content.splitlines())
    end, number = HEREDOC_END, 0
    while end in content_lines:
        number += 1
        end = f"{HEREDOC_END}_{number}"
    if not content.endswith("\n"):
        content += "\n"
    return f"{command} <<'{end}'\n{content}{end}\n"


def lines(*parts: str | Iterable[str]) -> str:
    """Join script fragments, one per line, flattening lists and dropping empty ones."""
    out: list[str] = []
    for part in parts:
        items = [part] if isinstance(part, str) else list(part)
        out.extend(item.rstrip("\n") for item in items if item)
    return "\n".join(out) + "\n"


def prelude(config: HostConfig) -> str:
    """The host's settings as bash variables, then the shared functions of app/steps/sh/common.sh.

    Python chooses only the values (each shlex-quoted); the functions stay shell, in a file shellcheck reads.
    """
    return lines(
        f"BASE={q(config.base_dir)}",
        f"APP_USER={q(config.app_user)}",
        f"SECRETS_FILE={q(config.secrets_file)}",
        f"STAGED={q(config.staged_dir)}",
        f"ENV_FILE={q(config.env_file)}",
        f"GUNICORN_CONFIG={q(config.gunicorn_config_file)}",
        f"WEB_PROGRAMS=({' '.join(q(p) for p in config.web_programs)})",
        f"WORKER_PROGRAMS=({' '.join(q(p) for p in config.worker_programs)})",
        f"HEALTH_URL={q(config.health_url)}",
        f"SUPERVISORD_PID={q(config.supervisord_pidfile)}",
        f"HEALTH_ATTEMPTS={config.health_attempts}",
        f"HEALTH_INTERVAL={config.health_interval_seconds}",
        f"LOCK_WAIT={config.lock_wait_seconds}",
        COMMON_SH.read_text(),
    )


def write_files(directory: str, files: Iterable[HostFile]) -> str:
    """Bash that writes `files` under `directory` as NN with a files.tsv manifest, for apply_files.

    `directory` is a bash word, quoted by the caller (e.g. '"$RELEASE/host"').
    """
    out = [f"install -d -m 700 {directory}", f": > {directory}/files.tsv"]
    for index, host_file in enumerate(files):
        name = f"{index:02d}"
        out.append(heredoc(f"cat > {directory}/{name}", host_file.content).rstrip("\n"))
        out.append(
            f"printf '%s\\t%s\\t%s\\t%s\\t%s\\n' {host_file.mode} {host_file.owner} {q(host_file.path)} {name} "
            f"{host_file.restart or '-'} >> {directory}/files.tsv"
        )
    return lines(out)
