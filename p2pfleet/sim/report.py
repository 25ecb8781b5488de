"""What a simulation run found: the figures `p2pfleet simulate` prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class SimReport:
    vehicles: int
    owners: int
    regions: int
    byzantine_vehicles: int
    behaviour: str
    policy: str
    replicas: int
    max_replicas: int
    seed: int
    jobs: int
    jobs_completed: int
    shards: int
    shards_completed: int
    wrong_accepted: int
    wrong_rate: float
    bound: float  # f**k for the colluding fraction f and the policy's k
    cheaters_caught: int  # distinct Byzantine vehicles caught at least once
    honest_penalised: int  # distinct honest vehicles on the losing side of a quorum
    canaries: int
    replica_runs: int  # replica runs that delivered a commit (canaries included)
    overhead_pct: float  # extra replica runs over one per completed shard
    assignments: int
    reassignments: int
    abandoned: int  # runs cut short by an unplanned or scheduled departure
    dropped: int
    cancelled: int
    disputed: int
    unchecked: int
    redone: int
    recomputed: int
    placement_waits: int
    job_minutes_median: float | None
    job_minutes_p95: float | None
    energy_wh_total: float
    energy_wh_per_vehicle: float
    energy_wh_per_working_vehicle: float
    energy_wh_max_vehicle: float
    working_vehicles: int
    refusals: dict[str, int]  # assignments the owner policy refused, by reason
    withheld_hours: dict[str, float]  # parked vehicle-hours the owner policy held back
    unplanned_trips: int
    simulated_hours: float
    events: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The human-readable summary, one figure per line."""

        def minutes(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.1f} min"

        refused = sum(self.refusals.values())
        refusals = ", ".join(f"{k} {v}" for k, v in sorted(self.refusals.items()))
        held = ", ".join(f"{k} {v:.0f}" for k, v in self.withheld_hours.items()) or "none"
        return [
            f"fleet            {self.vehicles} vehicles, {self.owners} owners, "
            f"{self.regions} regions, {self.byzantine_vehicles} Byzantine ({self.behaviour})",
            f"policy           {self.policy}, k={self.replicas}, cap {self.max_replicas}, "
            f"seed {self.seed}",
            f"shards completed {self.shards_completed}/{self.shards} "
            f"({self.jobs_completed}/{self.jobs} jobs) in {self.simulated_hours:.1f} simulated h",
            f"wrong accepted   {self.wrong_accepted} (rate {self.wrong_rate:.2e}, "
            f"bound f^k {self.bound:.1e})",
            f"cheaters caught  {self.cheaters_caught}/{self.byzantine_vehicles} "
            f"(honest penalised {self.honest_penalised}; disputed shards {self.disputed}, "
            f"recomputed {self.recomputed})",
            f"replica runs     {self.replica_runs} (overhead {self.overhead_pct:.1f}%; "
            f"canaries {self.canaries}, unchecked {self.unchecked}, redone {self.redone})",
            f"reassignments    {self.reassignments} (abandoned by departures {self.abandoned}, "
            f"dropped {self.dropped}, refused {refused})",
            f"job completion   median {minutes(self.job_minutes_median)}, "
            f"p95 {minutes(self.job_minutes_p95)}",
            f"energy           {self.energy_wh_per_vehicle:.1f} Wh per vehicle "
            f"({self.energy_wh_per_working_vehicle:.1f} Wh per working vehicle, "
            f"max {self.energy_wh_max_vehicle:.0f} Wh; {self.working_vehicles} worked)",
            f"owner policy     refused {refused} assignments{f' ({refusals})' if refused else ''}; "
            f"parked hours held back: {held}",
        ]
