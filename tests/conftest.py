"""Shared test setup: the repository root on sys.path so `infra` and `app` import as in `__main__.py`."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import importlib  # noqa: E402
import warnings  # noqa: E402

# The providers' packages warn at import time about every deprecated resource they still ship (vpc.Subnet,
# StarRocksInstance, …), whether a program uses them or not. Import the modules we use once, quietly, so the
# suite's "DeprecationWarning is an error" rule (pyproject.toml) catches only what the program itself does:
# deprecated arguments warn when passed, and deprecated resources log "… is deprecated", which
# pulumi_harness turns into a failure.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    for module in ("pulumi_alicloud", *(f"pulumi_alicloud.{m}" for m in
                   ("vpc", "ecs", "oss", "cdn", "slb", "rds", "kvstore", "ram")),
                   "pulumi_command", "pulumi_command.remote", "pulumi_command.local"):
        # Submodules load lazily; reading an ordinary attribute is what executes them.
        getattr(importlib.import_module(module), "_utilities", None)
