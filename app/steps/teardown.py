"""teardown: what `pulumi destroy` runs on a host before it goes: stop the app, take the sites off nginx.

Data stays (database, uploads, releases): the instance's own deletion removes it, and a host kept on
purpose keeps it. Every command tolerates a host where provision or deploy never ran.
"""

from __future__ import annotations

from app.steps.config import HostConfig
from app.steps.script import Script
from app.steps.shell import lines


def teardown(config: HostConfig) -> Script:
    """Stop gunicorn and celery and disable the Raindrop nginx sites."""
    programs = " ".join(config.web_programs + config.worker_programs)
    return Script(
        name="teardown",
        body=lines(
            f"if command -v supervisorctl >/dev/null; then supervisorctl stop {programs} || true; fi",
            "rm -f /etc/nginx/sites-enabled/raindrop.conf /etc/nginx/sites-enabled/raindrop-admin.conf",
            "if command -v nginx >/dev/null && nginx -t 2>/dev/null; then nginx -s reload || true; fi",
            "echo 'raindrop stopped; data kept'",
        ),
    )
