"""teardown: what `pulumi destroy` runs on a host before it goes: stop the app, take the sites off nginx.

Data stays (database, uploads, releases): the instance's own deletion removes it, and a host kept on
purpose keeps it. Every command tolerates a host where provision or deploy never ran.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from app import render
from app.steps.host import HostConfig
from app.steps.script import Script
from app.steps.shell import lines, q

# The nginx sites deploy enables: apply_files (app/steps/sh/common.sh) links each file it places under
# sites-available into sites-enabled by the same name, and render.HOST_FILES says which files those are.
SITES_AVAILABLE = "/etc/nginx/sites-available/"
ENABLED_SITES = tuple(
    f"/etc/nginx/sites-enabled/{PurePosixPath(spec.path).name}"
    for spec in render.HOST_FILES
    if spec.path.startswith(SITES_AVAILABLE)
)


def teardown(config: HostConfig) -> Script:
    """Stop gunicorn and celery and disable the Raindrop nginx sites."""
    # quoted: `name:*` is a supervisor group, not a glob for the shell to expand
    programs = " ".join(q(program) for program in config.web_programs + config.worker_programs)
    return Script(
        name="teardown",
        body=lines(
            f"if command -v supervisorctl >/dev/null; then supervisorctl stop {programs} || true; fi",
            f"rm -f {' '.join(q(site) for site in ENABLED_SITES)}",
            "if command -v nginx >/dev/null && nginx -t 2>/dev/null; then nginx -s reload || true; fi",
            "echo 'raindrop stopped; data kept'",
        ),
    )
