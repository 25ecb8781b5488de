"""Verification policies under colluding Byzantine nodes: accepted-wrong rate and overhead.

Runs the fleet simulator (p2pfleet.sim: the submitter's own core decisions —
core.scheduler placement, core.verify.ShardQuorum with disputes settled
locally or by escalation,
core.reputation.AdaptivePolicy, canaries and redo — over simulated vehicles
with drive/park/charge schedules) in which a fraction f of vehicles collude:
they always return the same wrong answer ("colluding"), or behave until
trusted and then cheat ("patient"). Prints, side by side in one run, for each
policy and f: P(accept wrong shard), the bound f^k, verification overhead (%
extra replica runs over one per shard), the submitter's own runs that settled
disputes (% of shards), and how many cheaters were caught. The escalating row
is the previous design, kept as `on_dispute = "escalate"`.

    PYTHONPATH=. python tools/bench_verification.py [--shards 10000] [--vehicles 1000]
"""

from __future__ import annotations

import argparse
import time

from p2pfleet.sim import SimConfig, run_simulation

ROWS = (  # (label, policy, k, max replicas, behaviour, on_dispute)
    ("exact-unanimous k=6 (default)", "exact-unanimous", 6, 9, "colluding", "recompute"),
    ("  same, escalating to 9", "exact-unanimous", 6, 9, "colluding", "escalate"),
    ("exact-unanimous k=2", "exact-unanimous", 2, 5, "colluding", "recompute"),
    ("adaptive (always cheat)", "adaptive", 2, 5, "colluding", "recompute"),
    ("adaptive (patient cheaters)", "adaptive", 2, 5, "patient", "recompute"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--shards", type=int, default=10_000)
    parser.add_argument("--vehicles", "--nodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"{args.shards} shards, {args.vehicles} vehicles, colluding Byzantine fraction f")
    print(
        f"{'policy':30} {'f':>5} {'P(accept wrong)':>16} {'bound':>9} {'overhead':>9} "
        f"{'local':>7} {'caught':>11} {'wall':>6}"
    )
    for f in (0.1, 0.2):
        for label, policy, k, cap, behaviour, on_dispute in ROWS:
            config = SimConfig(
                vehicles=args.vehicles,
                shards=args.shards,
                byzantine=f,
                behaviour=behaviour,
                policy=policy,
                replicas=k,
                max_replicas=cap,
                on_dispute=on_dispute,
                arrival_hours=72.0,  # a small fleet: spread the work so it keeps up
                max_days=30.0,
                seed=args.seed,
            )
            started = time.perf_counter()
            report = run_simulation(config)
            wall = time.perf_counter() - started
            caught = f"{report.cheaters_caught}/{report.byzantine_vehicles}"
            local = 100 * report.recomputed / report.shards
            print(
                f"{label:30} {f:5.2f} {report.wrong_rate:16.2e} {report.bound:9.1e} "
                f"{report.overhead_pct:8.1f}% {local:6.1f}% {caught:>11} {wall:5.0f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
