"""bench/results/: latest.json (every figure), latest.md (tables for people) and latency.png (a chart).

`python -m bench` and `python -m bench.chaos` each own one section of latest.json ("bench", "chaos") and
keep the other's, so one file holds the last run of both; the Markdown and the chart are redrawn from it.
"""

from __future__ import annotations

import datetime
import json
import os
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(os.environ.get("RAINDROP_BENCH_RESULTS", Path(__file__).with_name("results")))
PERCENTILES = ("p50", "p75", "p90", "p99")


@dataclass(frozen=True)
class Target:
    """One target of the issue, checked against a measured value. `met` is None when not measured."""

    name: str
    goal: str
    value: str
    met: bool | None

    @classmethod
    def check(cls, name: str, goal: str, value: float | None, ok: bool | None, unit: str = "") -> Target:
        shown = "not measured" if value is None else f"{value:g}{unit}"
        return cls(name, goal, shown, None if value is None else ok)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load(directory: Path = RESULTS_DIR) -> dict[str, Any]:
    path = directory / "latest.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError:
        return {}  # a half-written file from an interrupted run: start over


def save(section: str, figures: dict[str, Any], targets: list[Target], directory: Path = RESULTS_DIR) -> Path:
    """Replace `section` (and its targets) in latest.json, then redraw latest.md and latency.png."""
    directory.mkdir(parents=True, exist_ok=True)
    data = load(directory)
    data[section] = {"finished_at": now(), **figures, "targets": [asdict(t) for t in targets]}
    partial = directory / ".latest.json.partial"
    partial.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    partial.replace(directory / "latest.json")
    (directory / "latest.md").write_text(markdown(data))
    chart(data, directory / "latency.png")
    return directory / "latest.json"


def missed(targets: list[Target]) -> list[Target]:
    """Targets measured and not met, and targets that could not be measured at all."""
    return [t for t in targets if t.met is not True]


# -- Markdown ------------------------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def _http_rows(runs: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            r["label"],
            r["connections"],
            r["rps"],
            r["latency_ms"]["p50"],
            r["latency_ms"]["p99"],
            r["error_count"],
            ", ".join(f"{k} {v}" for k, v in r["errors"].items() if v) or "-",
            r.get("web_cpu_ms_per_request"),
        ]
        for r in runs
    ]


def _mark(met: bool | None) -> str:
    return {True: "met", False: "**MISSED**", None: "**not measured**"}[met]


def _targets(targets: list[dict[str, Any]]) -> str:
    return _table(
        ["target", "goal", "measured", ""], [[t["name"], t["goal"], t["value"], _mark(t["met"])] for t in targets]
    )


def _key_values(title: str, values: dict[str, Any]) -> str:
    rows = [[k, json.dumps(v) if isinstance(v, dict | list) else v] for k, v in values.items()]
    return f"### {title}\n\n" + _table(["", ""], rows) + "\n"


def markdown(data: dict[str, Any]) -> str:
    parts = [
        "# Raindrop bench results\n",
        "Written by `python -m bench` / `python -m bench.chaos`; figures from "
        "one shared, noisy 2-core machine, so compare the ratios, not the absolute numbers.\n",
    ]
    bench = data.get("bench")
    if bench:
        parts.append(f"## bench ({bench['finished_at']}, host {bench.get('host', '?')})\n")
        http = bench.get("http", []) + bench.get("baseline", [])
        if bench.get("web_processes"):
            parts.append(f"Web processes on the host: {bench['web_processes']}.\n")
        if http:
            parts.append("### HTTP through nginx (wrk)\n\n")
            parts.append(
                _table(
                    ["case", "conns", "rps", "p50 ms", "p99 ms", "errors", "error kinds", "web CPU-ms/request"],
                    _http_rows(http),
                )
                + "\n"
            )
        loops = bench.get("openloop", [])
        if loops:
            parts.append("### Open loop: fixed arrival rates (h2load), highest with p99 < 100 ms and 0 errors\n\n")
            rows = [
                [
                    o["label"],
                    o["max_rate_p99_under_100ms"],
                    "; ".join(
                        f"{st['rate']}/s: {st['achieved_rps']}/s, p99 {st['p99_ms']} ms, {st['failed']} failed"
                        for st in o["steps"]
                    ),
                ]
                for o in loops
            ]
            parts.append(_table(["case", "highest rate (req/s)", "steps"], rows) + "\n")
        for key, title in (
            ("socketio", "Socket.IO broadcast"),
            ("failover", "kill -9 of one web process under load"),
            ("deploy", "Deploy timings"),
            ("fanout", "Feed fan-out"),
            ("pulumi_graph", "Mocked Pulumi graph"),
        ):
            if bench.get(key):
                parts.append(_key_values(title, bench[key]))
        parts.append("### Targets\n\n" + _targets(bench.get("targets", [])) + "\n")
    chaos = data.get("chaos")
    if chaos:
        parts.append(f"## chaos ({chaos['finished_at']}, host {chaos.get('host', '?')})\n")
        kills = chaos.get("kills", [])
        if kills:
            parts.append("### kill -9 under a constant writer\n\n")
            rows = [
                [
                    k["process"],
                    k["killed_pids"],
                    k["recovered_s"],
                    k["acknowledged"],
                    k["lost"],
                    k.get("restarted_by", ""),
                ]
                for k in kills
            ]
            parts.append(_table(["process", "pids", "healthy again (s)", "acked writes", "lost", "back by"], rows))
            parts.append("\n")
        for key in ("reboot", "bad_release", "durability", "fuzz", "slowloris"):
            if chaos.get(key):
                parts.append(_key_values(key.replace("_", " "), chaos[key]))
        parts.append("### Targets\n\n" + _targets(chaos.get("targets", [])) + "\n")
    return "\n".join(parts)


# -- the chart ----------------------------------------------------------------------------------------------


def chart(data: dict[str, Any], path: Path) -> None:
    """Latency percentiles of every HTTP run, one group of bars per run, on a log scale."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to a file
    import matplotlib.pyplot as plt

    bench = data.get("bench") or {}
    runs = bench.get("http", []) + bench.get("baseline", [])
    fig, ax = plt.subplots(figsize=(max(8, 1.4 * len(runs) + 3), 5.5))
    if runs:
        width = 0.8 / len(PERCENTILES)
        for n, name in enumerate(PERCENTILES):
            xs = [i + (n - (len(PERCENTILES) - 1) / 2) * width for i in range(len(runs))]
            ax.bar(xs, [max(r["latency_ms"][name], 0.001) for r in runs], width, label=name)
        names = [textwrap.fill(f"{r['label']} @ {r['connections']} conns", 18) for r in runs]
        ax.set_xticks(range(len(runs)), names, fontsize=8)
        ax.set_yscale("log")
        ax.axhline(100, color="red", linestyle="--", linewidth=1, label="p99 target 100 ms")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no HTTP runs recorded yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title(f"Raindrop through nginx: latency percentiles ({bench.get('finished_at', 'no bench run')})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
