"""Wires a simulated fleet, its dynamics and the submitter to one clock, and runs it."""

from __future__ import annotations

import math
import random
import statistics

from p2pfleet.core.scheduler import ShardNeeds
from p2pfleet.sim.byzantine import right_answer
from p2pfleet.sim.clock import EventQueue
from p2pfleet.sim.config import REGIONS, SimConfig
from p2pfleet.sim.dynamics import MODEL, FleetDynamics
from p2pfleet.sim.fleet import build_fleet
from p2pfleet.sim.report import SimReport
from p2pfleet.sim.schedules import DAY_S
from p2pfleet.sim.submitter import REFERENCE_TIER_W, Submitter
from p2pfleet.sim.work import SimJob


class Simulation:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.clock = EventQueue()
        self.regions = tuple(name for name, _ in REGIONS[: config.regions])
        self.vehicles = build_fleet(config, random.Random(f"{config.seed}:fleet"))
        rng = random.Random(f"{config.seed}:run")
        self.fleet = FleetDynamics(self.clock, self.vehicles, self.regions, rng, churn=config.churn)
        self.submitter = Submitter(config, self.clock, self.fleet, rng)
        self._jobs = self._plan_jobs(random.Random(f"{config.seed}:jobs"))

    def _plan_jobs(self, rng: random.Random) -> list[SimJob]:
        config = self.config
        count = math.ceil(config.shards / config.shards_per_job)
        arrivals = sorted(rng.uniform(0.0, config.arrival_hours * 3600.0) for _ in range(count))
        jobs = []
        for index, submitted in enumerate(arrivals):
            real = min(config.shards_per_job, config.shards - index * config.shards_per_job)
            regions = (rng.choice(self.regions),) if rng.random() < config.residency else ()
            canaries = config.adaptive.canary_count(real) if config.adaptive_on else 0
            needs = ShardNeeds(
                model=MODEL,
                regions=regions,
                estimated_ms=int(config.shard_minutes * 60_000 * 100 / REFERENCE_TIER_W),
            )
            jobs.append(SimJob(index, submitted, real, canaries, needs))
        return jobs

    def run(self) -> SimReport:
        self.fleet.start()
        for job in self._jobs:
            self.clock.at(job.submitted_s, self.submitter.submit, job)
        total = len(self._jobs)
        self.clock.run(
            until_s=self.config.max_days * DAY_S,
            stop=lambda: self.submitter.finished_jobs == total,
        )
        return self.report()

    def report(self) -> SimReport:
        config, tally, jobs = self.config, self.submitter.tally, self._jobs
        completed = sum(len(job.results) for job in jobs)
        wrong = sum(
            digest != right_answer(job.shard_id(index))
            for job in jobs
            for index, digest in job.results.items()
        )
        durations = sorted(
            (job.finished_s - job.submitted_s) / 60.0 for job in jobs if job.finished_s is not None
        )
        byzantine = {v.index for v in self.vehicles if v.byzantine}
        energy = [v.energy_total_wh for v in self.vehicles]
        working = [e for e in energy if e > 0]
        f = len(byzantine) / len(self.vehicles)
        return SimReport(
            vehicles=len(self.vehicles),
            owners=len({v.owner for v in self.vehicles}),
            regions=len(self.regions),
            byzantine_vehicles=len(byzantine),
            behaviour=config.behaviour,
            policy=config.policy,
            replicas=config.k,
            max_replicas=config.cap,
            seed=config.seed,
            jobs=len(jobs),
            jobs_completed=sum(job.finished_s is not None for job in jobs),
            shards=config.shards,
            shards_completed=completed,
            wrong_accepted=wrong,
            wrong_rate=wrong / completed if completed else 0.0,
            bound=f**config.k,
            cheaters_caught=len(byzantine & set(tally.caught)),
            honest_penalised=len(set(tally.caught) - byzantine),
            canaries=tally.canaries,
            replica_runs=tally.votes,
            overhead_pct=100.0 * (tally.votes - completed) / completed if completed else 0.0,
            assignments=tally.assignments,
            reassignments=tally.reassignments,
            abandoned=tally.abandoned,
            dropped=tally.dropped,
            cancelled=tally.cancelled,
            disputed=tally.disputed,
            unchecked=tally.unchecked,
            redone=tally.redone,
            recomputed=tally.recomputed,
            placement_waits=tally.placement_waits,
            job_minutes_median=statistics.median(durations) if durations else None,
            job_minutes_p95=_percentile(durations, 0.95),
            energy_wh_total=sum(energy),
            energy_wh_per_vehicle=sum(energy) / len(energy),
            energy_wh_per_working_vehicle=sum(working) / len(working) if working else 0.0,
            energy_wh_max_vehicle=max(energy),
            working_vehicles=len(working),
            refusals=dict(sorted(self.fleet.refusals.items())),
            withheld_hours={
                k: round(v / 3600.0, 1) for k, v in sorted(self.fleet.withheld_s.items())
            },
            unplanned_trips=self.fleet.unplanned_trips,
            simulated_hours=self.clock.now / 3600.0,
            events=self.clock.processed,
        )


def _percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted `values`."""
    if not values:
        return None
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def run_simulation(config: SimConfig) -> SimReport:
    """Simulate `config` to the end (all jobs done, or `max_days`) and report."""
    return Simulation(config).run()
