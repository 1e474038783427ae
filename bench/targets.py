"""The issue's targets, checked against the figures of one run. Unmeasured targets stay visible as such."""

from __future__ import annotations

from typing import Any

from bench.results import Target

P99_LIMIT_MS = 100
SOCKETIO_P99_MS = 500
FRESH_LIMIT_S = 180
REDEPLOY_LIMIT_S = 10
FANOUT_LIMIT_S = 2
PULUMI_LIMIT_S = 3
RECOVERY_LIMIT_S = 10


def _run(runs: list[dict[str, Any]], case: str, connections: int) -> dict[str, Any] | None:
    return next((r for r in runs if r["case"] == case and r["connections"] == connections), None)


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    if a is None or b is None or not b["rps"]:
        return None
    return round(a["rps"] / b["rps"], 2)


def bench_targets(figures: dict[str, Any]) -> list[Target]:
    http = figures.get("http", [])
    base = figures.get("baseline", [])
    found: list[Target] = []
    for count in figures.get("connections", []):
        vs_baseline = _ratio(_run(http, "c", count), _run(base, "c-baseline", count))
        found.append(
            Target.check(
                f"(c) vs baseline @ {count}",
                ">= 2x the baseline's rps",
                vs_baseline,
                vs_baseline is not None and vs_baseline >= 2,
                "x",
            )
        )
        vs_api = _ratio(_run(http, "c", count), _run(http, "b", count))
        found.append(
            Target.check(
                f"(c) vs (b) @ {count}", ">= 0.6x of (b)'s rps", vs_api, vs_api is not None and vs_api >= 0.6, "x"
            )
        )
    top = max(figures.get("connections", [0]) or [0])
    for case in "abcd":
        run = _run(http, case, top)
        p99 = None if run is None else run["p99_ms"]
        found.append(
            Target.check(
                f"({case}) p99 @ {top}", f"< {P99_LIMIT_MS} ms", p99, p99 is not None and p99 < P99_LIMIT_MS, " ms"
            )
        )
    errors = sum(r["error_count"] for r in http) if http else None
    found.append(Target.check("errors, cases (a)-(d)", "0", errors, errors == 0))
    sio = figures.get("socketio") or {}
    sio_p99 = (sio.get("latency_ms") or {}).get("p99")
    found.append(
        Target.check(
            f"Socket.IO broadcast p99 ({sio.get('clients', '?')} clients)",
            f"< {SOCKETIO_P99_MS} ms",
            sio_p99,
            sio_p99 is not None and sio_p99 < SOCKETIO_P99_MS,
            " ms",
        )
    )
    dropped = sio.get("dropped")
    found.append(Target.check("Socket.IO clients dropped", "0", dropped, dropped == 0))
    deploy = figures.get("deploy") or {}
    fresh = deploy.get("fresh_to_healthy_s")
    found.append(
        Target.check(
            "fresh host to healthy", f"<= {FRESH_LIMIT_S} s", fresh, fresh is not None and fresh <= FRESH_LIMIT_S, " s"
        )
    )
    redeploy = deploy.get("redeploy") or {}
    step = None if redeploy.get("failed") else redeploy.get("to_healthy_s")
    found.append(
        Target.check(
            "code-only redeploy to healthy (upload + deploy until its health gate passes)",
            f"<= {REDEPLOY_LIMIT_S} s",
            step,
            step is not None and step <= REDEPLOY_LIMIT_S,
            " s",
        )
    )
    load_errors = (redeploy.get("load") or {}).get("error_count")
    found.append(Target.check("errors under load during the redeploy", "0", load_errors, load_errors == 0))
    fan = (figures.get("fanout") or {}).get("through_worker_median_s")
    found.append(
        Target.check(
            "fan-out of one post to 10,000 followers",
            f"< {FANOUT_LIMIT_S} s",
            fan,
            fan is not None and fan < FANOUT_LIMIT_S,
            " s",
        )
    )
    graph = (figures.get("pulumi_graph") or {}).get("slowest_median_s")
    found.append(
        Target.check(
            "mocked Pulumi graph", f"< {PULUMI_LIMIT_S} s", graph, graph is not None and graph < PULUMI_LIMIT_S, " s"
        )
    )
    return found
