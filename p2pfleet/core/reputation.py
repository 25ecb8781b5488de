"""Adaptive replication: BOINC-style reputation, capped trust and hidden canaries.

Theory of operation: a node earns standing by results that were *checked*
(agreed with an independent replica, or matched a canary whose answer the
submitter knows). Below `trust_after` consecutive valid results every shard
it runs is replicated. Above it, the submitter still replicates its shard
with probability 1/streak, but the streak counts only up to `trust_cap`, so a
trusted node is checked at least 1/trust_cap of the time and a patient
cheater gets at most about `trust_cap` unchecked results before it is caught.
A caught node loses its streak (and needs a longer one to be trusted again),
and its unchecked results in the job are redone. Hidden canary shards (real
inputs in the same manifest, answer computed by the submitter) run at
`canary_rate` and catch nodes that cheat only when they think nobody checks.

Pure: decisions take an `rng`; persistence is the caller's job.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeStanding:
    """What the submitter knows about one node key from checked results."""

    valid_streak: int = 0  # consecutive checked results that were correct
    valid_total: int = 0
    invalid_total: int = 0
    last_caught_ms: int | None = None

    def after_valid(self) -> NodeStanding:
        return replace(self, valid_streak=self.valid_streak + 1, valid_total=self.valid_total + 1)

    def after_invalid(self, now_ms: int) -> NodeStanding:
        return replace(
            self, valid_streak=0, invalid_total=self.invalid_total + 1, last_caught_ms=now_ms
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AdaptivePolicy:
    """The cheaper policy users pick knowingly (see README "Submitting jobs")."""

    trust_after: int = 10  # consecutive valid results before a shard may go unchecked
    trust_cap: int = 20  # streak counted up to this: checked at least 1/trust_cap of the time
    canary_rate: float = 0.05  # hidden canary shards per real shard

    def __post_init__(self) -> None:
        if not 1 <= self.trust_after <= self.trust_cap:
            raise ValueError("need 1 <= trust_after <= trust_cap")
        if not 0.0 <= self.canary_rate <= 1.0:
            raise ValueError("canary_rate must be within 0..1")

    def required_streak(self, standing: NodeStanding) -> int:
        """A caught node must earn a longer streak (doubling per offence) to be trusted again."""
        return int(self.trust_after * 2 ** min(standing.invalid_total, 16))

    def is_trusted(self, standing: NodeStanding) -> bool:
        return standing.valid_streak >= self.required_streak(standing)

    def check_probability(self, standing: NodeStanding) -> float:
        """Probability that a shard run by this node is also replicated (checked)."""
        if not self.is_trusted(standing):
            return 1.0
        return 1.0 / min(standing.valid_streak, self.trust_cap)

    def should_check(self, standing: NodeStanding, rng: random.Random) -> bool:
        return rng.random() < self.check_probability(standing)

    def canary_count(self, real_shards: int) -> int:
        if self.canary_rate == 0.0:
            return 0
        return max(1, math.ceil(self.canary_rate * real_shards))


def escaped_checks_bound(policy: AdaptivePolicy) -> float:
    """Expected unchecked results a trusted always-cheater gets before it is caught."""
    return float(policy.trust_cap - 1)
