"""API fuzz: schemathesis's CLI against the site's own /api/openapi.json, through nginx.

Only two checks count for the target: no 5xx (`not_a_server_error`) and every documented response
matching its schema (`response_schema_conformance`). The run's JUnit report is read for the failures.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

CHECKS = "not_a_server_error,response_schema_conformance"
_SERVER_ERROR = re.compile(r"server error", re.IGNORECASE)
_SCHEMA = re.compile(r"violates schema|schema violation|does not conform", re.IGNORECASE)


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if found is None:
        raise RuntimeError("schemathesis is not installed: pip install -r bench/requirements.txt")
    return found


def failures_from_junit(path: Path) -> list[dict[str, str]]:
    """Each failed operation of the JUnit report: its name and the failure text."""
    found = []
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314 - schemathesis's own report
        for failure in [*case.findall("failure"), *case.findall("error")]:
            text = " ".join(filter(None, [failure.get("message"), failure.text]))
            found.append({"operation": case.get("name", "?"), "text": text.strip()})
    return found


def run(base_url: str, cookie: str, *, max_examples: int, max_time_s: int, seed: int = 6) -> dict[str, Any]:
    """Fuzz every operation (logged in with `cookie`); returns counts of 5xx and schema failures."""
    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as scratch:
        junit = Path(scratch) / "junit.xml"
        argv = [
            _schemathesis(),
            "run",
            f"{base_url}/api/openapi.json",
            "--url",
            base_url,
            "--checks",
            CHECKS,
            "--max-examples",
            str(max_examples),
            "--max-time",
            str(max_time_s),
            "--seed",
            str(seed),
            "--workers",
            "2",
            "--request-timeout",
            "10",
            "--generation-database",
            "none",
            "--header",
            f"Cookie: {cookie}",
            "--phases",
            "examples,coverage,fuzzing",
            "--no-color",
            "--report",
            "junit",
            "--report-junit-path",
            str(junit),
            "--output-truncate",
            "true",
        ]
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=max_time_s + 300, check=False)
        if not junit.is_file():
            raise RuntimeError(
                f"schemathesis wrote no report (exit {completed.returncode}):\n"
                f"{(completed.stdout + completed.stderr)[-2000:]}"
            )
        failures = failures_from_junit(junit)
        cases = sum(1 for _ in ET.parse(junit).getroot().iter("testcase"))  # noqa: S314
    summary = [line for line in completed.stdout.splitlines() if re.search(r"\b(passed|failed|errors?)\b", line)]
    return {
        "exit_code": completed.returncode,
        "operations": cases,
        "failed_operations": len(failures),
        "server_errors": sum(1 for f in failures if _SERVER_ERROR.search(f["text"])),
        "schema_violations": sum(1 for f in failures if _SCHEMA.search(f["text"])),
        "other_failures": sum(
            1 for f in failures if not (_SERVER_ERROR.search(f["text"]) or _SCHEMA.search(f["text"]))
        ),
        "examples": [{"operation": f["operation"], "text": f["text"][:400]} for f in failures[:5]],
        "summary": summary[-3:],
        "max_examples": max_examples,
    }
