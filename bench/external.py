"""Figures other parts of the project measure with their own scripts; the bench runs them and reads them.

- server/bench/fanout.py (the server's): one post fanned out to 10,000 followers, against the local test
  MariaDB and Redis that scripts/services-up.sh starts;
- bench/pulumi_graph.py (the lead's): the mocked Pulumi program's build time.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_MEDIAN = re.compile(
    r"^[ \t]*(?P<label>[^:\n]+?)[ \t]*:[ \t]*(?:(?P<resources>\d+) resources, )?"
    r"median (?P<median>[\d.]+) s, max (?P<max>[\d.]+) s",
    re.MULTILINE,
)
_TOTAL = re.compile(r"total incl\. imports:\s*(?P<total>[\d.]+) s")


class ExternalError(RuntimeError):
    """A script exited non-zero or printed none of the figures expected from it."""


def _run(argv: list[str], what: str, timeout: float) -> str:
    completed = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    if completed.returncode != 0:
        raise ExternalError(f"{what} exited {completed.returncode}:\n{(completed.stdout + completed.stderr)[-1500:]}")
    return completed.stdout


def medians(output: str) -> dict[str, dict[str, float]]:
    """`label: [N resources, ]median X s, max Y s` lines as {label: {median_s, max_s[, resources]}}."""
    found = {}
    for match in _MEDIAN.finditer(output):
        figure: dict[str, float] = {"median_s": float(match["median"]), "max_s": float(match["max"])}
        if match["resources"]:
            figure["resources"] = int(match["resources"])
        found[match["label"].strip()] = figure
    return found


def fanout(followers: int = 10_000, rounds: int = 3) -> dict[str, Any]:
    _run(["bash", "scripts/services-up.sh"], "scripts/services-up.sh", timeout=120)
    output = _run(
        [sys.executable, "server/bench/fanout.py", "--followers", str(followers), "--rounds", str(rounds)],
        "server/bench/fanout.py",
        timeout=900,
    )
    figures = medians(output)
    worker = next((v for k, v in figures.items() if "celery worker" in k), None)
    if worker is None:
        raise ExternalError(f"server/bench/fanout.py printed no 'through a celery worker' figure:\n{output}")
    return {"followers": followers, "rounds": rounds, "figures": figures, "through_worker_median_s": worker["median_s"]}


def pulumi_graph() -> dict[str, Any]:
    output = _run([sys.executable, "bench/pulumi_graph.py"], "bench/pulumi_graph.py", timeout=600)
    figures = medians(output)
    if not figures:
        raise ExternalError(f"bench/pulumi_graph.py printed no median figure:\n{output}")
    total = _TOTAL.search(output)
    return {
        "figures": figures,
        "slowest_median_s": max(f["median_s"] for f in figures.values()),
        "total_with_imports_s": float(total["total"]) if total else None,
    }
