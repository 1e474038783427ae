"""`python -m bench`: the benchmark run on a sandbox host; figures to bench/results/ (see bench/results.py).

    python -m bench                     full run (reuses the host `bench` if it exists, else makes it, timed)
    python -m bench --fresh             always start from a fresh host (measures fresh host → healthy)
    python -m bench --only http,socketio --seconds 3 --connections 8 --clients 10    a short run

Parts: http (cases a-d at each connection count, with the web processes' CPU-ms per request), openloop (the
highest fixed arrival rate with p99 < 100 ms for b-d), baseline (case c on gunicorn -w 4 sync, no Redis cache:
wrk, CPU and open loop), socketio (broadcast to many clients over several client processes), failover (kill -9
of one web process under load), redeploy (code-only redeploy under load), fanout (server/bench/fanout.py),
pulumi (bench/pulumi_graph.py). Exit status: 0 when the run completed (missed
targets are printed and recorded, not hidden); 1 when a part could not run; with --strict, 1 also when a
target is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from bench import baseline, cases, external, openloop, results, socketio_load, targets
from bench.host import BenchHost, acquired, log
from bench.variants import build_variant

PARTS = ("http", "openloop", "baseline", "socketio", "failover", "redeploy", "fanout", "pulumi")
OPEN_LOOP_CASES = ("b", "c", "d")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", help="sandbox host name (default: RAINDROP_BENCH_SANDBOX or 'bench')")
    parser.add_argument("--subnet", help="its /30 (default: what the host recorded, or 10.213.6.0/30)")
    parser.add_argument("--fresh", action="store_true", help="remove the host and make it again, timed")
    parser.add_argument("--bundle", type=Path, help="deploy this bundle instead of building the current sources")
    parser.add_argument("--seconds", type=float, default=15, help="wrk duration per case and connection count")
    parser.add_argument("--connections", default="64,256", help="comma-separated wrk connection counts")
    parser.add_argument("--clients", type=int, default=5000, help="concurrent Socket.IO clients")
    parser.add_argument(
        "--client-processes", type=int, default=socketio_load.DEFAULT_PROCESSES, help="processes holding them"
    )
    parser.add_argument("--step-seconds", type=float, default=5, help="open-loop duration per arrival rate")
    parser.add_argument(
        "--rates",
        default=",".join(map(str, openloop.RATES)),
        help="comma-separated open-loop arrival rates (requests/s), stepped up until p99 or errors break",
    )
    parser.add_argument("--only", help=f"comma-separated parts to run, of: {', '.join(PARTS)}")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser


def _parts(only: str | None) -> list[str]:
    if not only:
        return list(PARTS)
    chosen = [p.strip() for p in only.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        raise SystemExit(f"unknown part {unknown[0]!r}; the parts are: {', '.join(PARTS)}")
    return chosen


def _run_part(name: str, figures: dict[str, Any], failures: list[str], action: Any) -> None:
    """Run one part; a failure is recorded with its cause and the run goes on with the next part."""
    log(f"--- {name}")
    try:
        action()
    except Exception as error:
        traceback.print_exc()
        failures.append(f"{name}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
        figures.setdefault("failures", []).append(failures[-1])


def run(args: argparse.Namespace) -> int:
    parts = _parts(args.only)
    connections = [int(c) for c in args.connections.split(",") if c.strip()]
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    figures: dict[str, Any] = {"parts": parts, "seconds_per_run": args.seconds, "connections": connections}
    failures: list[str] = []
    with acquired(args.name, args.subnet, fresh=args.fresh, bundle=args.bundle) as got:
        host: BenchHost = got.host
        figures["host"] = f"{host.sandbox.settings.name} ({host.address})"
        figures["web_processes"] = host.variables["raindrop_gunicorn_processes"]
        figures["deploy"] = {"fresh_to_healthy_s": None if got.fresh_seconds is None else round(got.fresh_seconds, 1)}
        seeded: dict[str, Any] = {}

        def seed() -> None:
            seeded.update(cases.prepare(host))

        if {"http", "openloop", "baseline", "failover"} & set(parts):
            _run_part("seed", figures, failures, seed)
        the_cases = {c.key: c for c in cases.cases(host, seeded)} if seeded else {}

        def http() -> None:
            figures["http"] = [
                run
                for case, counts in cases.http_plan(the_cases, connections)
                for run in cases.measure(host, case, counts, args.seconds)
            ]

        def open_loop() -> None:
            figures["openloop"] = [
                cases.open_loop(host, the_cases[key], args.step_seconds, rates) for key in OPEN_LOOP_CASES
            ]

        def tutorial_baseline() -> None:
            with baseline.baseline(host):
                figures["baseline"] = cases.measure(host, the_cases["c"], connections, args.seconds, " [baseline]")
                baseline_open_loop = cases.open_loop(host, the_cases["c"], args.step_seconds, rates, " [baseline]")
                figures.setdefault("openloop", []).append({**baseline_open_loop, "case": "c-baseline"})
            for run in figures["baseline"]:
                run["case"] = "c-baseline"

        def socketio() -> None:
            listeners = host.python("hostside.py", "seed-listeners", str(args.clients))
            figures["socketio"] = socketio_load.measure(
                host.base_url,
                listeners["cookies"],
                lambda: host.python("hostside.py", "broadcast"),
                processes=args.client_processes,
                server_cpu=host.cpu_reader(),
            )
            log(f"socket.io: {figures['socketio']}")

        def failover() -> None:
            figures["failover"] = cases.kill_one_web_process(host, the_cases["c"].request)
            log(f"kill -9 of one web process: {figures['failover']}")

        def redeploy() -> None:
            release = build_variant(f"code-only redeploy {os.getpid()}", base=args.bundle)
            figures["deploy"]["redeploy"] = cases.redeploy_under_load(host, release)
            log(f"redeploy: {figures['deploy']['redeploy']}")

        def fanout() -> None:
            figures["fanout"] = external.fanout()

        def pulumi() -> None:
            figures["pulumi_graph"] = external.pulumi_graph()

        actions = {
            "http": http,
            "openloop": open_loop,
            "baseline": tutorial_baseline,
            "socketio": socketio,
            "failover": failover,
            "redeploy": redeploy,
            "fanout": fanout,
            "pulumi": pulumi,
        }
        for part in parts:
            if part in ("http", "openloop", "baseline", "failover") and not seeded:
                failures.append(f"{part}: skipped, the seed failed")
                continue
            _run_part(part, figures, failures, actions[part])

    checked = targets.bench_targets(figures)
    path = results.save("bench", figures, checked)
    log(f"results: {path}, {path.with_name('latest.md')}, {path.with_name('latency.png')}")
    for target in checked:
        log(
            f"target {target.name}: {target.goal}; measured {target.value} -> "
            f"{ {True: 'met', False: 'MISSED', None: 'NOT MEASURED'}[target.met] }"
        )
    if failures:
        log("parts that failed: " + "; ".join(failures))
        return 1
    missed = results.missed(checked)
    if missed and args.strict:
        log("missed targets: " + ", ".join(t.name for t in missed))
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if os.geteuid() != 0:
        print("bench: the sandbox host needs root", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
