"""Times the whole Pulumi program under mocks (config → components → exports), single host and scale-out.

Target: under 3 s. Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import conftest  # noqa: E402,F401  (quiet provider imports, as in the suite)
from pulumi_harness import run_program  # noqa: E402


def main(repeats: int = 5) -> None:
    for label, overrides in (("single host", {}), ("scale-out x3 + CDN", {
        "instanceCount": 3, "enableCdn": True, "cdnDomain": "static.example.com"
    })):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run = run_program(overrides)
            times.append(time.perf_counter() - start)
        print(f"{label:>20}: {len(run.mocks.resources):3d} resources, median {statistics.median(times):.3f} s, "
              f"max {max(times):.3f} s over {repeats} runs (target < 3 s)")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"{'total incl. imports':>20}: {time.perf_counter() - start:.3f} s")
