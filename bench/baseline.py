"""The tutorials' setup on the same host: `gunicorn -w 4` sync workers with RAINDROP_FEED_CACHE=0.

The switch happens at runtime through supervisor, without touching the deployed release or its config
files: an extra supervisor program (its own conf file) runs the baseline gunicorn on the port the
release's gunicorn uses, so the same nginx proxies to it. `baseline()` stops the release's web
programs, starts the baseline, and on the way out puts everything back as it was.

The baseline loads the app through its factory (`raindrop_server:create_app()`), not through
raindrop_server.wsgi, whose first act is gevent's monkey patching: a sync worker is meant to block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from app.steps.host import HostConfig
from app.steps.shell import q
from bench.host import BenchHost, HostError, log

PROGRAM = "raindrop-bench-baseline"
CONF_FILE = f"/etc/supervisor/conf.d/{PROGRAM}.conf"
WORKERS = 4
# The release's web programs as the host steps name them (supervisor group syntax).
WEB_PROGRAMS = " ".join(q(name) for name in HostConfig.from_defaults().web_programs)


def program_conf(host: BenchHost) -> str:
    v = host.variables
    command = (
        f"set -a && . {v['raindrop_env_file']} && RAINDROP_FEED_CACHE=0 && "
        f"exec {v['raindrop_venv_dir']}/bin/gunicorn --workers {WORKERS} --worker-class sync "
        f"--bind 127.0.0.1:{v['raindrop_gunicorn_first_port']} --chdir {v['raindrop_current_dir']} "
        f"--pythonpath {v['raindrop_server_pythonpath']} --timeout {v['raindrop_gunicorn_timeout']} "
        f'--access-logfile - --error-logfile - "raindrop_server:create_app()"'
    )
    return "\n".join(
        [
            "; Written and removed by bench/baseline.py: the tutorials' gunicorn, for comparison only.",
            f"[program:{PROGRAM}]",
            f"command = /bin/sh -c {q(command)}",
            f"directory = {v['raindrop_current_dir']}",
            f"user = {v['raindrop_app_user']}",
            "autostart = false",
            "autorestart = false",
            "stopasgroup = true",
            "killasgroup = true",
            "redirect_stderr = true",
            f"stdout_logfile = {v['raindrop_log_dir']}/{PROGRAM}.log",
            "",
        ]
    )


def switch_to_baseline(host: BenchHost) -> None:
    conf = program_conf(host)
    host.run(
        "bench-baseline-on",
        "\n".join(
            [
                f"cat > {CONF_FILE} <<'BENCH_EOF'\n{conf}BENCH_EOF",
                f"chmod 600 {CONF_FILE}",
                "supervisorctl reread >/dev/null",
                "supervisorctl update",
                f"supervisorctl stop {WEB_PROGRAMS}",
                f"supervisorctl start {PROGRAM}",
            ]
        ),
    )
    if host.wait_healthy(timeout=60) is None:
        raise HostError("the baseline gunicorn did not become healthy within 60 s")


def switch_back(host: BenchHost) -> None:
    host.run(
        "bench-baseline-off",
        "\n".join(
            [
                f"supervisorctl stop {PROGRAM} || true",
                f"rm -f {CONF_FILE}",
                "supervisorctl reread >/dev/null",
                "supervisorctl update",
                f"supervisorctl start {WEB_PROGRAMS}",
            ]
        ),
    )
    if host.wait_healthy(timeout=60) is None:
        raise HostError("the release's gunicorn did not come back healthy after the baseline")


@contextlib.contextmanager
def baseline(host: BenchHost) -> Iterator[None]:
    """The host serves through the baseline gunicorn inside the block, and through the release's after."""
    log(f"switching the host to the baseline: gunicorn -w {WORKERS} sync, RAINDROP_FEED_CACHE=0")
    try:
        switch_to_baseline(host)
        yield
    finally:
        log("switching the host back to the release's gunicorn/gevent")
        switch_back(host)
