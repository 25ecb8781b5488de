"""The submitter loop: placement, quorum, escalation, reputation, canaries, redo.

Theory of operation — the same decisions as submit/coordinator.py and
submit/runner.py, on the same core functions, driven by simulated events:
a shard places `k` replicas all-or-none with core.scheduler.choose_replicas
over the submitter's partial view (a random sample of advertising
vehicles); every commit is a vote in core.verify.ShardQuorum; a loss
(refusal, abandon when the car drives off, silent drop) or a disagreement
places more replicas up to the cap; a quorum that cannot agree is settled by
recomputing. Adaptive jobs send the first replica alone and keep it alone
when core.reputation.AdaptivePolicy says a trusted node need not be checked;
hidden canaries run alone and are judged against the known answer. A caught
node is banned for the rest of the job, its standing reset, and its
unchecked results in the job are redone with full replication.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from p2pfleet.core.energy import task_energy_wh
from p2pfleet.core.reputation import AdaptivePolicy, NodeStanding
from p2pfleet.core.scheduler import choose_replicas, shard_exclusions
from p2pfleet.core.verify import (
    QuorumDecision,
    QuorumStatus,
    ShardQuorum,
    exact_agreement,
    judge_votes,
)
from p2pfleet.sim.byzantine import answer, right_answer, skips_work
from p2pfleet.sim.clock import EventQueue
from p2pfleet.sim.config import SimConfig
from p2pfleet.sim.dynamics import FleetDynamics
from p2pfleet.sim.fleet import SimVehicle
from p2pfleet.sim.work import Run, SimJob, SimShard, Tally
from p2pfleet.submit.job import CANARY_MAX_REPLICAS

LAZY_RUNTIME_S = 5.0  # a lazy node commits almost at once
DROP_TIMEOUT_FACTOR = 2.0  # a silent drop is noticed after this many estimated runtimes
REFERENCE_TIER_W = 100


class Submitter:
    def __init__(
        self, config: SimConfig, clock: EventQueue, fleet: FleetDynamics, rng: random.Random
    ) -> None:
        self.config = config
        self.clock = clock
        self.fleet = fleet
        self.rng = rng
        self.policy: AdaptivePolicy | None = config.adaptive if config.adaptive_on else None
        self.standing: dict[bytes, NodeStanding] = {}  # the journal's peer reputation
        self.tally = Tally()
        self.finished_jobs = 0
        # Observers (tests, tools): every placement, and every run a node admitted.
        self.on_assign: Callable[[SimShard, SimVehicle], None] = lambda shard, vehicle: None
        self.on_start: Callable[[Run], None] = lambda run: None
        fleet.on_leave = self._vehicle_left

    # -- jobs and shards ---------------------------------------------------------------

    def submit(self, job: SimJob) -> None:
        job.outstanding.update(range(job.real_shards + job.canaries))
        self.tally.canaries += job.canaries
        for index in range(job.real_shards + job.canaries):
            self._start(job, index, canary=index >= job.real_shards, force_check=False)

    def _start(self, job: SimJob, index: int, *, canary: bool, force_check: bool) -> None:
        if canary:
            quorum = ShardQuorum(replicas=1, max_replicas=CANARY_MAX_REPLICAS)
        else:
            quorum = ShardQuorum(
                replicas=self.config.k,
                max_replicas=self.config.cap,
                settle_disputes=self.config.on_dispute == "recompute",
            )
        solo = self.policy is not None and not canary and not force_check
        self._progress(SimShard(job, index, canary, quorum, solo))

    def _progress(self, shard: SimShard) -> None:
        """Drive the shard as far as it goes now (the coordinator's decide loop)."""
        if shard.done:
            return
        quorum = shard.quorum
        if not shard.started:
            count = 1 if shard.solo else quorum.replicas
            chosen = self._choose(shard, count)
            if len(chosen) < count:  # all-or-none: never hold part of the fleet while waiting
                self._wait(shard)
                return
            shard.started = True
            runs = [self._place(shard, vehicle) for vehicle in chosen]
            if shard.solo and quorum.replicas > 1:
                assert self.policy is not None
                if not self.policy.should_check(self._standing(runs[0].vehicle.key), self.rng):
                    quorum.replicas, shard.checked = 1, False
            for run in runs:
                self._admit(run)
            if shard.solo and shard.checked:
                self._place_more(shard, self.config.k - 1)
        while not shard.done:
            decision = quorum.decide()
            if decision.status is QuorumStatus.ACCEPTED:
                self._accept(shard, decision)
            elif decision.status in (QuorumStatus.DISPUTED, QuorumStatus.FAILED):
                self._settle_locally(shard)
            elif decision.status is QuorumStatus.NEED_MORE:
                if self._place_more(shard, decision.replicas_to_add) < decision.replicas_to_add:
                    self._wait(shard)
                    return
            else:
                return  # PENDING: outstanding replicas will report

    def _wait(self, shard: SimShard) -> None:
        self.tally.placement_waits += 1
        if not shard.retry_pending:
            shard.retry_pending = True
            self.clock.after(self.config.retry_s, self._retry, shard)

    def _retry(self, shard: SimShard) -> None:
        shard.retry_pending = False
        self._progress(shard)

    # -- placement ---------------------------------------------------------------------

    def _choose(self, shard: SimShard, count: int) -> list[SimVehicle]:
        job = shard.job
        regions = job.needs.regions
        pool = self.fleet.by_region[regions[0]] if len(regions) == 1 else self.fleet.everywhere
        view = pool.sample(self.config.view_size, self.rng)
        by_key = {vehicle.key: vehicle for vehicle in view}
        votes = shard.quorum.votes
        used_nodes, used_owners = shard_exclusions(
            (run.vehicle.key, run.vehicle.owner, not run.live and run.vehicle.key not in votes)
            for run in shard.runs
        )
        chosen = choose_replicas(
            [self.fleet.advert(vehicle) for vehicle in view],
            count,
            needs=job.needs,
            now_ms=int(self.clock.now * 1000),
            rng=self.rng,
            exclude_nodes=used_nodes | job.banned,
            exclude_owners=used_owners,
            load={vehicle.key: len(vehicle.running) for vehicle in view if vehicle.running},
            max_load=self.config.max_in_flight_per_node,
        )
        return [by_key[signed.node_key] for signed in chosen]

    def _place_more(self, shard: SimShard, count: int) -> int:
        chosen = self._choose(shard, count)
        for vehicle in chosen:
            self._admit(self._place(shard, vehicle))
        return len(chosen)

    def _place(self, shard: SimShard, vehicle: SimVehicle) -> Run:
        shard.quorum.place()
        self.tally.assignments += 1
        if shard.quorum.lost:
            self.tally.reassignments += 1
        run = Run(shard, vehicle, self.clock.now)
        shard.runs.append(run)
        self.on_assign(shard, vehicle)
        return run

    def _admit(self, run: Run) -> None:
        """The node accepts (and starts) the assignment, or refuses it: a loss."""
        vehicle, shard = run.vehicle, run.shard
        if self.fleet.admit(vehicle, shard.job.needs.regions) is not None:
            self.tally.refused += 1
            run.live = False
            self._lose(run)
            return
        config = self.config
        self.fleet.advance_battery(vehicle)  # compute power starts now
        vehicle.running.append(run)
        self.on_start(run)
        vehicle.has_model = True
        if not vehicle.at_home:
            vehicle.cellular_today_b += int(config.input_mb * 1_000_000)
        standing = self._standing(vehicle.key)
        run.vote = answer(
            vehicle.behaviour,
            shard.job.shard_id(shard.index),
            vehicle.key,
            trusted=config.adaptive.is_trusted(standing),
            rng=self.rng,
            cheat_rate=config.cheat_rate,
            flaky_rate=config.flaky_rate,
        )
        runtime = config.shard_minutes * 60.0 * REFERENCE_TIER_W / vehicle.tier_watts
        if skips_work(vehicle.behaviour):
            runtime = LAZY_RUNTIME_S
        if run.vote is None:
            runtime = DROP_TIMEOUT_FACTOR * config.shard_minutes * 60.0
        self.clock.after(runtime, self._finished, run)

    def _stop(self, run: Run) -> None:
        """The run ends now, whatever the reason: free the slot, book the energy."""
        run.live = False
        vehicle = run.vehicle
        self.fleet.advance_battery(vehicle)
        vehicle.running.remove(run)
        if run.vote is not None and not skips_work(vehicle.behaviour):
            ms = int((self.clock.now - run.started_s) * 1000)
            wh = task_energy_wh(vehicle.tier_watts, ms)
            vehicle.energy_today_wh += wh
            vehicle.energy_total_wh += wh

    def _finished(self, run: Run) -> None:
        if not run.live:
            return
        self._stop(run)
        vehicle, shard = run.vehicle, run.shard
        self.fleet.publish(vehicle)
        if run.vote is None:
            self.tally.dropped += 1
            self._lose(run)
        else:
            self.tally.votes += 1
            vehicle.runs += 1
            shard.quorum.record_vote(vehicle.key, vehicle.owner, run.vote)
        self._progress(shard)

    def _lose(self, run: Run) -> None:
        shard = run.shard
        shard.quorum.record_loss()
        if not shard.checked:  # the trusted node is gone: verify the normal way
            shard.quorum.replicas, shard.checked = self.config.k, True

    def _vehicle_left(self, vehicle: SimVehicle) -> None:
        """Driving wins: every running shard on the vehicle is abandoned and reassigned."""
        runs = list(vehicle.running)
        for run in runs:
            self._stop(run)
            self.tally.abandoned += 1
            self._lose(run)
        for run in runs:
            self._progress(run.shard)

    # -- outcomes ----------------------------------------------------------------------

    def _standing(self, key: bytes) -> NodeStanding:
        return self.standing.get(key) or NodeStanding()

    def _accept(self, shard: SimShard, decision: QuorumDecision) -> None:
        shard.done = True
        job = shard.job
        for run in shard.runs:  # replicas still running are not needed any more
            if run.live:
                self._stop(run)
                self.tally.cancelled += 1
                self.fleet.publish(run.vehicle)
        job.outstanding.discard(shard.index)
        self.tally.disputed += decision.disputed
        if shard.canary:
            voter = decision.agreeing[0]
            if decision.accepted_hash == right_answer(job.shard_id(shard.index)):
                self._valid(voter)
            else:
                self._caught(voter, job)
        else:
            assert decision.accepted_hash is not None
            job.results[shard.index] = decision.accepted_hash
            if not shard.checked:
                self.tally.unchecked += 1
                job.unchecked.setdefault(decision.agreeing[0], []).append(shard.index)
            else:
                for node in decision.agreeing:
                    self._valid(node)
                for node in decision.dissenting:
                    self._caught(node, job)
        if not job.outstanding and job.finished_s is None:
            job.finished_s = self.clock.now
            self.finished_jobs += 1

    def _settle_locally(self, shard: SimShard) -> None:
        """A dispute (or no quorum within the cap): the submitter recomputes; dissenters were wrong."""
        self.tally.recomputed += 1
        right = right_answer(shard.job.shard_id(shard.index))
        agreeing, dissenting = judge_votes(shard.quorum.votes, right, exact_agreement)
        if shard.canary:
            shard.done = True
            shard.job.outstanding.discard(shard.index)
            for node in dissenting:
                self._caught(node, shard.job)
            if not shard.job.outstanding and shard.job.finished_s is None:
                shard.job.finished_s = self.clock.now
                self.finished_jobs += 1
            return
        shard.checked = True
        self._accept(shard, QuorumDecision(QuorumStatus.ACCEPTED, right, agreeing, dissenting))

    def _valid(self, node: bytes) -> None:
        self.standing[node] = self._standing(node).after_valid()

    def _caught(self, node: bytes, job: SimJob) -> None:
        self.standing[node] = self._standing(node).after_invalid(int(self.clock.now * 1000))
        self.tally.caught[int.from_bytes(node[1:], "big")] += 1
        job.banned.add(node)
        for index in job.unchecked.pop(node, []):  # its unchecked results are redone
            job.results.pop(index, None)
            job.outstanding.add(index)
            self.tally.redone += 1
            self._start(job, index, canary=False, force_check=True)
