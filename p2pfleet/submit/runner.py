"""Runs one job to the end: per-shard verification modes, reputation, canaries, journal.

Theory of operation: every shard of the manifest gets one task. The task
picks a verification mode (k-unanimity; for the adaptive policy a trusted
node may run a shard alone with probability 1 - 1/streak; canaries run alone
and are judged against the answer the submitter computed), drives it through
the ShardCoordinator and writes the outcome to the journal before anything
else happens. Checked results update reputation: agreeing nodes gain a
valid result, dissenters are caught — banned for the rest of the job, their
standing reset, and their unchecked results in the job sent back to the
queue with full replication. A quorum that cannot agree within its cap is
settled by recomputing the shard locally.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import trio

from p2pfleet.core.advert import SignedAdvert
from p2pfleet.core.reputation import AdaptivePolicy
from p2pfleet.core.verify import Agreement, exact_agreement, judge_votes
from p2pfleet.inference.compare import comparator_for
from p2pfleet.inference.engine import Runner
from p2pfleet.submit.coordinator import ShardCoordinator, ShardFailedError, ShardMode, ShardRecord
from p2pfleet.submit.events import EventKind, EventSink, job_event
from p2pfleet.submit.job import CANARY_MAX_REPLICAS, JobSpec
from p2pfleet.submit.journal import Journal, ShardStatus
from p2pfleet.submit.planner import JobPlan, ShardPlan

log = logging.getLogger("p2pfleet.submit")

MAX_SHARD_ATTEMPTS = 3


@dataclass(slots=True)
class JobOutcome:
    outputs: dict[int, bytes] = field(default_factory=dict)  # manifest index -> accepted output
    unchecked: set[int] = field(default_factory=set)  # accepted from one trusted node
    records: list[ShardRecord] = field(default_factory=list)  # every shard run this session
    caught: Counter[bytes] = field(default_factory=Counter)  # node key -> wrong answers
    recomputed: list[int] = field(default_factory=list)  # shards settled by a local run
    canaries_passed: int = 0
    resumed: int = 0  # shards already finished in the journal when this session began


class JobRunner:
    def __init__(
        self,
        plan: JobPlan,
        spec: JobSpec,
        model: Runner,
        coordinator: ShardCoordinator,
        journal: Journal,
        rng: random.Random,
        emit: EventSink,
        on_shard: Callable[[ShardRecord], None] | None = None,
    ) -> None:
        self.on_shard = on_shard
        self.plan = plan
        self.spec = spec
        self.model = model
        self.coordinator = coordinator
        self.journal = journal
        self.rng = rng
        self.emit = emit
        self.policy: AdaptivePolicy | None = spec.adaptive_policy()
        manifest = plan.manifest.manifest
        self.tolerant = manifest.tolerant
        # the exact tier compares hashes; the tolerant tier compares revealed outputs
        self.agree: Agreement = (
            comparator_for(manifest.comparator) if self.tolerant else exact_agreement
        )
        self.job = plan.job_id.hex()
        self.outcome = JobOutcome()
        self._nursery: trio.Nursery | None = None

    def _event(
        self,
        kind: EventKind,
        shard: int | None = None,
        node: bytes | None = None,
        detail: str = "",
        **data: object,
    ) -> None:
        self.emit(job_event(kind, self.job, shard, node, detail, **data))

    async def run(self) -> JobOutcome:
        todo = []
        for saved in self.journal.shards(self.job):
            if saved.status is ShardStatus.QUEUED:
                todo.append(saved.index)
            else:
                self.outcome.resumed += 1
                if saved.output is not None:
                    self.outcome.outputs[saved.index] = saved.output
                if saved.status is ShardStatus.TRUSTED:
                    self.outcome.unchecked.add(saved.index)
        self._event(
            EventKind.JOB_STARTED,
            shards=len(self.plan.real_shards),
            resumed=self.outcome.resumed,
            policy=self.spec.policy,
        )
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for index in todo:
                self._event(EventKind.QUEUED, index)
                nursery.start_soon(self._run_shard, index, False)
        self.journal.set_job_status(self.job, "done")
        self._event(EventKind.JOB_FINISHED, caught=len(self.outcome.caught))
        return self.outcome

    def _mode(self, shard: ShardPlan, force_check: bool) -> ShardMode:
        tier = ShardMode(
            replicas=self.spec.replicas,
            max_replicas=self.spec.max_replicas,
            agree=self.agree,
            tolerant=self.tolerant,
            settle_disputes=self.spec.on_dispute == "recompute",
        )
        if shard.canary:
            return replace(tier, replicas=1, max_replicas=CANARY_MAX_REPLICAS, reveal=False)
        policy = self.policy
        if policy is None or force_check:
            return tier

        def solo(advert: SignedAdvert) -> bool:
            return not policy.should_check(self.journal.standing(advert.node_key), self.rng)

        return replace(tier, solo=solo)

    async def _run_shard(self, index: int, force_check: bool) -> None:
        shard = self.plan.shards[index]
        for attempt in range(1, MAX_SHARD_ATTEMPTS + 1):
            try:
                record = await self.coordinator.run(shard, self._mode(shard, force_check))
            except ShardFailedError as exc:
                if exc.record is not None and exc.votes is not None:
                    await self._settle_locally(shard, exc.record, exc.votes, exc)
                    return
                if exc.record is None or attempt == MAX_SHARD_ATTEMPTS:
                    raise
                log.warning("%s; retrying (attempt %d)", exc, attempt + 1)
                continue
            self.outcome.records.append(record)
            await self._accept(shard, record)
            return

    async def _accept(self, shard: ShardPlan, record: ShardRecord) -> None:
        if shard.canary:
            voter = record.agreeing[0]
            if await self._canary_passed(shard, record):
                self._valid(voter)
                self.outcome.canaries_passed += 1
                self._event(EventKind.CANARY, shard.index, voter, "passed")
            else:
                record.dissenting, record.agreeing = record.agreeing, ()
                self._event(EventKind.CANARY, shard.index, voter, "failed")
                self._caught(voter, shard.index)
            self.journal.finish_shard(
                self.job,
                shard.index,
                ShardStatus.CANARY_DONE,
                accepted_hash=record.accepted_hash,
                output=None,
            )
            return
        if not record.checked:
            node = record.agreeing[0]
            self.journal.finish_shard(
                self.job,
                shard.index,
                ShardStatus.TRUSTED,
                accepted_hash=record.accepted_hash,
                output=record.output,
                trusted_node=node,
            )
            self.outcome.unchecked.add(shard.index)
        else:
            self.journal.finish_shard(
                self.job,
                shard.index,
                ShardStatus.VERIFIED,
                accepted_hash=record.accepted_hash,
                output=record.output,
            )
            self.outcome.unchecked.discard(shard.index)
            for node in record.agreeing:
                self._valid(node)
            for node in record.dissenting:
                self._caught(node, shard.index)
        assert record.output is not None
        self.outcome.outputs[shard.index] = record.output
        if self.on_shard is not None:
            self.on_shard(record)
        self._event(
            EventKind.VERIFIED,
            shard.index,
            detail="checked" if record.checked else "trusted",
            sha256=(record.accepted_hash or b"").hex(),
        )

    async def _canary_passed(self, shard: ShardPlan, record: ShardRecord) -> bool:
        """Exact tier: the known hash. Tolerant tier: the comparator against a local run."""
        if not self.tolerant:
            return record.accepted_hash == shard.known_hash
        if record.output is None:
            return False
        local = await trio.to_thread.run_sync(self.model.run_bytes, shard.input_bytes)
        return self.agree(record.output, local)

    async def _settle_locally(
        self, shard: ShardPlan, record: ShardRecord, votes: dict[bytes, bytes], reason: Exception
    ) -> None:
        """A dispute, or no quorum within the cap: recompute here; whoever disagrees was wrong."""
        self._event(EventKind.DISPUTED, shard.index, detail=f"{reason}; recomputing locally")
        output = await trio.to_thread.run_sync(self.model.run_bytes, shard.input_bytes)
        digest = hashlib.sha256(output).digest()
        # the quorum's votes: output hashes, or on the tolerant tier revealed outputs
        reference = output if self.tolerant else digest
        record.agreeing, record.dissenting = judge_votes(votes, reference, self.agree)
        record.accepted_hash, record.output = digest, output
        record.settled_locally = True
        record.verified_at = time.monotonic()
        self.outcome.records.append(record)
        self.outcome.recomputed.append(shard.index)
        if shard.canary:
            for node in record.dissenting:
                self._caught(node, shard.index)
            self.journal.finish_shard(
                self.job, shard.index, ShardStatus.CANARY_DONE, accepted_hash=digest, output=None
            )
            return
        await self._accept(shard, record)

    def _valid(self, node: bytes) -> None:
        self.journal.save_standing(node, self.journal.standing(node).after_valid())

    def _caught(self, node: bytes, index: int) -> None:
        standing = self.journal.standing(node).after_invalid(int(time.time() * 1000))
        self.journal.save_standing(node, standing)
        self.outcome.caught[node] += 1
        self.coordinator.banned.add(node)
        self._event(EventKind.CAUGHT, index, node, "wrong answer")
        for redo in self.journal.requeue_trusted(self.job, node):
            self.outcome.outputs.pop(redo, None)
            self.outcome.unchecked.discard(redo)
            self._event(EventKind.REDO, redo, node, "unchecked result of a caught node")
            assert self._nursery is not None
            self._nursery.start_soon(self._run_shard, redo, True)
