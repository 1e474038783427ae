"""`python -m bench.chaos`: the fault suite on a sandbox host. Figures go to bench/results/ ("chaos").

    python -m bench.chaos                              every fault, full size
    python -m bench.chaos --only kill --kill gunicorn  one kill (the smoke test's size)

Parts: kill (kill -9 of gunicorn, celery, nginx, redis, mariadb, supervisord, one at a time, under a writer),
power-cut (then boot), reboot (`systemctl reboot` inside), db-outage (MariaDB stopped 30 s), bad-release,
durability (3 redeploys + 1 rollback), fuzz (schemathesis), slowloris. Exit status 1 when a
target is missed or could not be measured, naming each; 0 when every target of the parts run is met.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from bench import faults, fuzz, results
from bench.host import BenchHost, acquired, log
from bench.results import Target
from bench.targets import P99_LIMIT_MS, RECOVERY_LIMIT_S

PARTS = ("kill", "power-cut", "reboot", "db-outage", "bad-release", "durability", "fuzz", "slowloris")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", help="sandbox host name (default: RAINDROP_BENCH_SANDBOX or 'bench')")
    parser.add_argument("--subnet", help="its /30 (default: what the host recorded, or 10.213.6.0/30)")
    parser.add_argument(
        "--bundle",
        type=Path,
        help="deploy this bundle if the host must be made; variants are built on it (default: newest in dist/)",
    )
    parser.add_argument("--only", help=f"comma-separated parts, of: {', '.join(PARTS)}")
    parser.add_argument("--kill", default=",".join(faults.SERVICES), help="services to kill, in order")
    parser.add_argument("--fuzz-examples", type=int, default=25, help="schemathesis examples per operation")
    parser.add_argument("--fuzz-seconds", type=int, default=300, help="schemathesis time budget")
    parser.add_argument("--slow-connections", type=int, default=2000, help="slowloris connections")
    parser.add_argument("--seconds", type=float, default=10, help="wrk duration of the slowloris measurements")
    return parser


def _choose(value: str | None, allowed: tuple[str, ...] | list[str], what: str) -> list[str]:
    if not value:
        return list(allowed)
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in allowed]
    if unknown:
        raise SystemExit(f"unknown {what} {unknown[0]!r}; choose from: {', '.join(allowed)}")
    return chosen


def chaos_targets(figures: dict[str, Any], parts: list[str], kills: list[str]) -> list[Target]:
    found: list[Target] = []
    if "kill" in parts:
        by_name = {k["process"]: k for k in figures.get("kills", [])}
        for name in kills:
            kill = by_name.get(name, {})
            if kill.get("restarted_by", "itself") != "itself":
                value = f"not back by itself within {faults.RECOVERY_WAIT_S} s ({kill['restarted_by']})"
                found.append(
                    Target(f"kill -9 {name}: healthy again by itself", f"<= {RECOVERY_LIMIT_S} s", value, False)
                )
            else:
                back = kill.get("recovered_s")
                found.append(
                    Target.check(
                        f"kill -9 {name}: healthy again by itself",
                        f"<= {RECOVERY_LIMIT_S} s",
                        back,
                        back is not None and back <= RECOVERY_LIMIT_S,
                        " s",
                    )
                )
            lost = kill.get("lost")
            found.append(Target.check(f"kill -9 {name}: acknowledged writes lost", "0", lost, lost == 0))
    for part, key, label in (("power-cut", "power_cut", "power cut, then boot"), ("reboot", "reboot", "reboot")):
        if part not in parts:
            continue
        boot = figures.get(key) or {}
        back = boot.get("healthy_after_s") if not boot.get("boot_error") else None
        found.append(Target.check(f"{label}: healthy by itself", "healthy after boot", back, back is not None, " s"))
        found.append(Target.check(f"{label}: acknowledged writes lost", "0", boot.get("lost"), boot.get("lost") == 0))
    if "db-outage" in parts:
        outage = figures.get("db_outage") or {}
        all_503 = None if not outage else int(bool(outage.get("all_503")))
        found.append(Target.check("MariaDB stopped: health answers 503", "yes (1)", all_503, all_503 == 1))
        slowest = outage.get("health_slowest_s")
        found.append(Target.check("MariaDB stopped: slowest health answer", f"< {faults.HEALTH_ANSWER_LIMIT_S} s",
                                  slowest, slowest is not None and slowest < faults.HEALTH_ANSWER_LIMIT_S, " s"))
        back = outage.get("healthy_after_start_s")
        writes, read = outage.get("writes_after_outage"), outage.get("read_after_outage_status")
        found.append(Target.check("MariaDB started again: healthy by itself", f"<= {RECOVERY_LIMIT_S} s", back,
                                  back is not None and back <= RECOVERY_LIMIT_S, " s"))
        shown = "not measured" if not outage else f"{writes} writes, read {read}"
        found.append(Target("MariaDB started again: writes and reads come back", "writes > 0, read 200", shown,
                            None if not outage else bool(writes) and read == 200))
        found.append(Target.check("MariaDB outage: acknowledged writes lost", "0", outage.get("lost"),
                                  outage.get("lost") == 0))
    if "bad-release" in parts:
        bad = figures.get("bad_release") or {}
        rolled = None if not bad else int(bool(bad.get("rolled_back")))
        found.append(Target.check("bad release rolled back automatically", "yes (1)", rolled, rolled == 1))
        errors = bad.get("load_error_count")
        found.append(Target.check("bad release: failed requests under load", "0", errors, errors == 0))
    if "durability" in parts:
        durable = figures.get("durability") or {}
        equal = None if not durable else int(bool(durable.get("equal")))
        found.append(
            Target.check("durability: rows and uploads after 3 redeploys + 1 rollback", "equal (1)", equal, equal == 1)
        )
    if "fuzz" in parts:
        fuzzed = figures.get("fuzz") or {}
        found.append(
            Target.check("fuzz: 5xx responses", "0", fuzzed.get("server_errors"), fuzzed.get("server_errors") == 0)
        )
        found.append(
            Target.check(
                "fuzz: responses breaking their schema",
                "0",
                fuzzed.get("schema_violations"),
                fuzzed.get("schema_violations") == 0,
            )
        )
    if "slowloris" in parts:
        under = (figures.get("slowloris") or {}).get("under_attack") or {}
        p99 = under.get("p99_ms")
        ok = p99 is not None and p99 < P99_LIMIT_MS and under.get("errors") == 0
        found.append(Target.check("slowloris: API p99 with 0 errors", f"< {P99_LIMIT_MS} ms", p99, ok, " ms"))
    return found


def run(args: argparse.Namespace) -> int:
    parts = _choose(args.only, PARTS, "part")
    kills = _choose(args.kill, list(faults.SERVICES), "service")
    figures: dict[str, Any] = {"parts": parts}
    failures: list[str] = []
    with acquired(args.name, args.subnet, fresh=False, bundle=args.bundle) as got:
        host: BenchHost = got.host
        figures["host"] = f"{host.sandbox.settings.name} ({host.address})"
        seeded = host.python("hostside.py", "seed-feed")
        writer_cookie, reader_cookie = seeded["writer_cookie"], seeded["reader_cookie"]

        def attempt(name: str, action: Any) -> None:
            log(f"--- {name}")
            try:
                action()
            except Exception as error:
                traceback.print_exc()
                failures.append(f"{name}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
                figures.setdefault("failures", []).append(failures[-1])
                if not host.healthy():
                    log("the host is not healthy after that failure: waiting up to 60 s before going on")
                    host.wait_healthy(timeout=60)

        def kill_all() -> None:
            figures["kills"] = []
            for name in kills:
                service = faults.SERVICES[name]
                attempt(
                    f"kill -9 {name}",
                    lambda s=service: figures["kills"].append(faults.kill_one(host, s, writer_cookie)),
                )

        measured = {
            "power-cut": ("power_cut", lambda: faults.power_cut(host, writer_cookie)),
            "reboot": ("reboot", lambda: faults.reboot(host, writer_cookie)),
            "db-outage": ("db_outage", lambda: faults.database_outage(host, writer_cookie)),
            "bad-release": ("bad_release", lambda: faults.bad_release(host, reader_cookie, base=args.bundle)),
            "durability": ("durability", lambda: faults.durability(host, writer_cookie, base=args.bundle)),
            "fuzz": (
                "fuzz",
                lambda: fuzz.run(
                    host.base_url, reader_cookie, max_examples=args.fuzz_examples, max_time_s=args.fuzz_seconds
                ),
            ),
            "slowloris": ("slowloris", lambda: faults.slow_clients(host, args.slow_connections, args.seconds)),
        }
        for part in parts:
            if part == "kill":
                kill_all()
                continue
            key, action = measured[part]
            attempt(part, lambda key=key, action=action: figures.__setitem__(key, action()))

    checked = chaos_targets(figures, parts, kills)
    path = results.save("chaos", figures, checked)
    log(f"results: {path} and {path.with_name('latest.md')}")
    missed = results.missed(checked)
    for target in checked:
        log(
            f"target {target.name}: {target.goal}; measured {target.value} -> "
            f"{ {True: 'met', False: 'MISSED', None: 'NOT MEASURED'}[target.met] }"
        )
    if failures:
        log("parts that failed: " + "; ".join(failures))
    if missed or failures:
        print(
            "chaos: targets missed: " + "; ".join(f"{t.name} ({t.value}, goal {t.goal})" for t in missed),
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if os.geteuid() != 0:
        print("bench.chaos: the sandbox host needs root", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
