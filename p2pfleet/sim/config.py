"""What to simulate: fleet size, workload, adversary, verification policy, churn."""

from __future__ import annotations

from dataclasses import dataclass, field

from p2pfleet.core.reputation import AdaptivePolicy
from p2pfleet.sim.byzantine import Behaviour
from p2pfleet.submit.job import (
    ADAPTIVE_MAX_REPLICAS,
    ADAPTIVE_REPLICAS,
    ON_DISPUTE,
    POLICY_ADAPTIVE,
    POLICY_EXACT,
    SAFE_MAX_REPLICAS,
    SAFE_REPLICAS,
)

SIM_POLICIES = (POLICY_EXACT, POLICY_ADAPTIVE)  # the tolerant tier's comparators are not simulated

#: Regions in the order `regions=N` takes them: (name, UTC offset in hours).
REGIONS = (
    ("eu-west", 0),
    ("us-east", -5),
    ("ap-northeast", 9),
    ("eu-central", 1),
    ("us-west", -8),
    ("ap-southeast", 8),
    ("sa-east", -3),
    ("af-south", 2),
)
MIXED = "mixed"  # Byzantine nodes spread evenly over every behaviour


class SimConfigError(ValueError):
    """An impossible simulation setting; the message names the option and the fix."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SimConfig:
    vehicles: int = 10_000
    shards: int = 10_000  # real shards over all jobs (canaries come on top)
    shards_per_job: int = 100
    arrival_hours: float = 24.0  # jobs arrive at random over this window
    residency: float = 0.5  # fraction of jobs whose data must stay in one region
    regions: int = 4
    byzantine: float = 0.1  # fraction of vehicles that are Byzantine
    behaviour: str = Behaviour.COLLUDING.value  # a Behaviour value, or "mixed"
    cheat_rate: float = 0.1  # how often a "sometimes" cheater cheats
    flaky_rate: float = 0.2  # how often a flaky node drops a shard
    policy: str = POLICY_EXACT
    replicas: int | None = None  # None: the policy's default (6, or 2 for adaptive)
    max_replicas: int | None = None
    on_dispute: str = "recompute"  # or "escalate" (submit JobSpec.on_dispute)
    adaptive: AdaptivePolicy = field(default_factory=AdaptivePolicy)
    churn: float = 0.1  # fraction of parked periods cut short by an unplanned trip
    shard_minutes: float = 5.0  # a shard's runtime on a 100 W compute tier
    input_mb: float = 2.0  # shard input + output over the vehicle's link
    view_size: int = 64  # candidates the submitter considers per placement (partial view)
    max_in_flight_per_node: int = 1  # the submitter's backpressure (submit ClientConfig default)
    retry_s: float = 60.0  # wait before retrying a placement that found too few nodes
    max_days: float = 7.0  # stop the clock here even if work is left
    seed: int = 1

    def __post_init__(self) -> None:
        checks = [
            (self.vehicles >= 2, "vehicles must be at least 2"),
            (self.shards >= 1 and self.shards_per_job >= 1, "shards and shards_per_job >= 1"),
            (1 <= self.regions <= len(REGIONS), f"regions must be 1..{len(REGIONS)}"),
            (0.0 <= self.byzantine < 1.0, "byzantine must be a fraction within [0, 1)"),
            (0.0 <= self.churn <= 1.0, "churn must be a fraction within [0, 1]"),
            (0.0 <= self.residency <= 1.0, "residency must be a fraction within [0, 1]"),
            (0.0 <= self.cheat_rate <= 1.0, "cheat_rate must be within [0, 1]"),
            (0.0 <= self.flaky_rate <= 0.8, "flaky_rate must be within [0, 0.8]"),
            (self.policy in SIM_POLICIES, f"policy must be one of {', '.join(SIM_POLICIES)}"),
            (self.on_dispute in ON_DISPUTE, f"on_dispute must be one of {', '.join(ON_DISPUTE)}"),
            (self.shard_minutes > 0 and self.arrival_hours > 0, "times must be positive"),
            (self.max_in_flight_per_node >= 1, "max_in_flight_per_node must be >= 1"),
            (self.view_size >= 1 and self.retry_s > 0 and self.max_days > 0, "bad limits"),
        ]
        for ok, message in checks:
            if not ok:
                raise SimConfigError(message)
        if self.behaviour != MIXED and self.behaviour not in {b.value for b in Behaviour}:
            names = ", ".join([b.value for b in Behaviour if b is not Behaviour.HONEST] + [MIXED])
            raise SimConfigError(f"behaviour {self.behaviour!r} is unknown; use one of {names}")
        if not 1 <= self.k <= self.cap <= 16:
            raise SimConfigError("need 1 <= replicas <= max_replicas <= 16")

    @property
    def adaptive_on(self) -> bool:
        return self.policy == POLICY_ADAPTIVE

    @property
    def k(self) -> int:
        """Agreeing replicas a checked shard needs."""
        if self.replicas is not None:
            return self.replicas
        return ADAPTIVE_REPLICAS if self.adaptive_on else SAFE_REPLICAS

    @property
    def cap(self) -> int:
        if self.max_replicas is not None:
            return self.max_replicas
        default = ADAPTIVE_MAX_REPLICAS if self.adaptive_on else SAFE_MAX_REPLICAS
        return max(default, self.k)
