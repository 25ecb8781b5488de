"""Verification policies under colluding Byzantine nodes: accepted-wrong rate and overhead.

Runs the submitter's own core decisions (core.verify.ShardQuorum with
escalation, core.reputation.AdaptivePolicy, random distinct placement) over a
simulated fleet in which a fraction f of nodes collude: they always return the
same wrong answer ("always"), or behave until trusted and then cheat
("patient"). Prints, side by side in one run, for each policy and f:
P(accept wrong shard), verification overhead (% extra replica compute over one
replica per shard), and how many cheaters were caught.

    PYTHONPATH=. python tools/bench_verification.py [--shards 20000] [--nodes 1000]
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass

from p2pfleet.core.reputation import AdaptivePolicy, NodeStanding
from p2pfleet.core.verify import QuorumStatus, ShardQuorum

RIGHT, WRONG = b"R" * 32, b"W" * 32


@dataclass
class Tally:
    shards: int = 0
    runs: int = 0
    wrong: int = 0
    caught: int = 0
    canaries: int = 0


def vote(node: int, byzantine: set[int], strategy: str, trusted: bool) -> bytes:
    if node not in byzantine:
        return RIGHT
    if strategy == "patient" and not trusted:
        return RIGHT
    return WRONG


def run_quorum(
    first: list[int],
    pool: list[int],
    k: int,
    cap: int,
    answer: dict[int, bytes],
    rng: random.Random,
) -> tuple[bytes | None, list[int], list[int], int]:
    """Returns (accepted hash, agreeing, dissenting, replica runs); escalates on mismatch."""
    quorum = ShardQuorum(replicas=k, max_replicas=cap)
    used = list(first)
    quorum.place(len(first))
    for node in first:
        quorum.record_vote(node.to_bytes(4, "big"), node.to_bytes(4, "big"), answer[node])
    while True:
        decision = quorum.decide()
        if decision.status is QuorumStatus.ACCEPTED:
            agreeing = [int.from_bytes(n, "big") for n in decision.agreeing]
            dissenting = [int.from_bytes(n, "big") for n in decision.dissenting]
            return decision.accepted_hash, agreeing, dissenting, len(used)
        if decision.status is QuorumStatus.FAILED:
            return None, [], [], len(used)  # settled by a local recompute: never wrong
        extra = [n for n in rng.sample(pool, decision.replicas_to_add + len(used)) if n not in used]
        for node in extra[: decision.replicas_to_add]:
            used.append(node)
            quorum.place()
            quorum.record_vote(node.to_bytes(4, "big"), node.to_bytes(4, "big"), answer[node])


def simulate_safe(nodes: int, f: float, shards: int, k: int, cap: int, rng: random.Random) -> Tally:
    byzantine = set(rng.sample(range(nodes), int(f * nodes)))
    pool = list(range(nodes))
    answer = {n: (WRONG if n in byzantine else RIGHT) for n in pool}
    tally = Tally()
    banned: set[int] = set()
    for _ in range(shards):
        live = [n for n in pool if n not in banned]
        accepted, _, dissenting, runs = run_quorum(rng.sample(live, k), live, k, cap, answer, rng)
        tally.shards += 1
        tally.runs += runs
        tally.wrong += accepted == WRONG
        for node in dissenting:
            if node in byzantine and node not in banned:
                tally.caught += 1
            banned.add(node)
    return tally


def simulate_adaptive(
    nodes: int, f: float, shards: int, policy: AdaptivePolicy, strategy: str, rng: random.Random
) -> Tally:
    byzantine = set(rng.sample(range(nodes), int(f * nodes)))
    pool = list(range(nodes))
    standing = {n: NodeStanding() for n in pool}
    banned: set[int] = set()
    unchecked: dict[int, int] = {}  # wrong unchecked results per node, redone when caught
    tally = Tally()
    pending_wrong = 0
    canary_every = round(1 / policy.canary_rate) if policy.canary_rate else 0

    def caught(node: int) -> None:
        nonlocal pending_wrong
        standing[node] = standing[node].after_invalid(0)
        if node not in banned:
            tally.caught += node in byzantine
            banned.add(node)
        pending_wrong -= unchecked.pop(node, 0)  # its unchecked results are redone

    for index in range(shards):
        live = [n for n in pool if n not in banned]
        first = rng.choice(live)
        trusted = policy.is_trusted(standing[first])
        if canary_every and index % canary_every == 0:  # a canary: one node, answer known
            tally.canaries += 1
            tally.runs += 1
            if vote(first, byzantine, strategy, trusted) == WRONG:
                caught(first)
            else:
                standing[first] = standing[first].after_valid()
        tally.shards += 1
        if trusted and not policy.should_check(standing[first], rng):
            tally.runs += 1
            if vote(first, byzantine, strategy, trusted) == WRONG:
                unchecked[first] = unchecked.get(first, 0) + 1
                pending_wrong += 1
            continue
        others = rng.sample([n for n in live if n != first], 1)
        answer = {n: vote(n, byzantine, strategy, policy.is_trusted(standing[n])) for n in live}
        accepted, agreeing, dissenting, runs = run_quorum([first, *others], live, 2, 5, answer, rng)
        tally.runs += runs
        tally.wrong += accepted == WRONG
        for node in agreeing:
            standing[node] = standing[node].after_valid()
        for node in dissenting:
            caught(node)
    tally.wrong += pending_wrong
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=20_000)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    adaptive = AdaptivePolicy()
    print(f"{args.shards} shards, {args.nodes} nodes, colluding Byzantine fraction f")
    print(
        f"{'policy':34} {'f':>5} {'P(accept wrong)':>16} {'bound':>9} {'overhead':>9} {'caught':>7}"
    )
    for f in (0.1, 0.2):
        rows = [
            ("exact-unanimous k=6 (default)", simulate_safe(args.nodes, f, args.shards, 6, 9, rng),
             f**6),
            ("exact-unanimous k=2", simulate_safe(args.nodes, f, args.shards, 2, 5, rng), f**2),
            ("adaptive (always cheat)",
             simulate_adaptive(args.nodes, f, args.shards, adaptive, "always", rng), f**2),
            ("adaptive (patient cheaters)",
             simulate_adaptive(args.nodes, f, args.shards, adaptive, "patient", rng), f**2),
        ]  # fmt: skip
        for name, tally, bound in rows:
            overhead = 100 * (tally.runs - tally.shards) / tally.shards
            print(
                f"{name:34} {f:5.2f} {tally.wrong / tally.shards:16.2e} {bound:9.1e} "
                f"{overhead:8.1f}% {tally.caught:7d}"
            )


if __name__ == "__main__":
    main()
