"""`p2pfleet simulate`: a fleet-scale discrete-event simulation on the live network's core code."""

from __future__ import annotations

import argparse
from typing import Any

from p2pfleet.cli.console import EXIT_OK, fail, out, print_json


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "simulate",
        help="simulate a fleet: verification, churn, owner policies, energy (no network)",
        description=(
            "Simulate a fleet of parked, charging and driving vehicles running verified jobs, "
            "with the same core scheduler, quorum, reputation, owner-policy and energy code "
            "as the live network. Deterministic for a --seed. See docs/simulator.md."
        ),
    )
    add = parser.add_argument
    add("--vehicles", type=int, default=10_000, help="fleet size (default 10000)")
    add("--shards", type=int, default=10_000, help="real shards over all jobs (default 10000)")
    add("--shards-per-job", type=int, default=100, help="shards per job (default 100)")
    add("--arrival-hours", type=float, default=24.0, help="jobs arrive over this window")
    add("--regions", type=int, default=4, help="regions the fleet spans, 1..8 (default 4)")
    add("--residency", type=float, default=0.5, help="fraction of jobs held to one region")
    add("--byzantine", type=float, default=0.1, help="Byzantine fraction of vehicles (0.1)")
    add(
        "--behaviour",
        default="colluding",
        help="colluding, lazy, flaky, always, sometimes, patient or mixed (default colluding)",
    )
    add("--cheat-rate", type=float, default=0.1, help="how often 'sometimes' cheaters cheat")
    add("--flaky-rate", type=float, default=0.2, help="how often 'flaky' nodes drop a shard")
    add("--policy", default="exact-unanimous", help="exact-unanimous (default) or adaptive")
    add("--replicas", type=int, help="k agreeing replicas (default 6; adaptive 2)")
    add("--max-replicas", type=int, help="escalation cap (default 9; adaptive 5)")
    add(
        "--on-dispute",
        default="recompute",
        help="recompute (default: the submitter settles it) or escalate (more replicas)",
    )
    add("--canary-rate", type=float, default=0.05, help="adaptive: canaries per real shard")
    add("--trust-after", type=int, default=10, help="adaptive: valid results before trust")
    add("--trust-cap", type=int, default=20, help="adaptive: trusted nodes checked >= 1/cap")
    add("--churn", type=float, default=0.1, help="parked periods cut short by unplanned trips")
    add("--shard-minutes", type=float, default=5.0, help="shard runtime on a 100 W tier")
    add("--days", type=float, default=7.0, help="stop the simulated clock after this")
    add("--seed", type=int, default=1, help="random seed: same seed, same run (default 1)")
    add("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import time

    from p2pfleet.core.reputation import AdaptivePolicy
    from p2pfleet.sim import SimConfig, run_simulation
    from p2pfleet.sim.config import SimConfigError

    try:
        config = SimConfig(
            vehicles=args.vehicles,
            shards=args.shards,
            shards_per_job=args.shards_per_job,
            arrival_hours=args.arrival_hours,
            regions=args.regions,
            residency=args.residency,
            byzantine=args.byzantine,
            behaviour=args.behaviour,
            cheat_rate=args.cheat_rate,
            flaky_rate=args.flaky_rate,
            policy=args.policy,
            replicas=args.replicas,
            max_replicas=args.max_replicas,
            on_dispute=args.on_dispute,
            adaptive=AdaptivePolicy(
                trust_after=args.trust_after,
                trust_cap=args.trust_cap,
                canary_rate=args.canary_rate,
            ),
            churn=args.churn,
            shard_minutes=args.shard_minutes,
            max_days=args.days,
            seed=args.seed,
        )
    except ValueError as exc:  # SimConfigError, or AdaptivePolicy's own checks
        kind = "simulate" if isinstance(exc, SimConfigError) else "adaptive policy"
        fail(f"{kind}: {exc}")
    started = time.perf_counter()
    report = run_simulation(config)
    wall_s = time.perf_counter() - started
    if args.json:
        print_json({**report.to_dict(), "wall_s": round(wall_s, 1)})
        return EXIT_OK
    for line in report.lines():
        out.print(line, markup=False, soft_wrap=True)
    out.print(f"ran {report.events} events in {wall_s:.1f} s of wall time (one core)", markup=False)
    return EXIT_OK
