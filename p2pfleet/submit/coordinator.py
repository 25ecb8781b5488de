"""Drives one shard to an accepted output: placement, churn, quorum, escalation, reveal.

Theory of operation: place `replicas` copies on random eligible nodes of
distinct owners; every commit is a vote (core.verify.ShardQuorum). A loss
(reject, signed abandon, reset stream, timeout, or the node's advert
expiring or turning to driving) places another copy at once; a node that
lost may take the shard once more (core.scheduler.shard_exclusions). A disagreement waits for the outstanding votes, then the runner settles the
shard with its own run (or, with settle_disputes off, more replicas are
placed up to the mode's cap). Commit-then-reveal: nobody uploads an output
before the quorum is in; then exactly one agreeing replica, chosen at random,
reveals its signed output, which must hash to the agreed value. The others'
signed commitments were their votes. Tolerant tier (mode.tolerant): once
every placed replica has committed or been lost, each committed replica
reveals (submit/reveals.py); an output matching its own commit is its vote,
grouped by the comparator; the accepted output is a random agreeing one.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from p2pfleet.core.advert import SignedAdvert
from p2pfleet.core.scheduler import ShardNeeds, choose_replicas, shard_exclusions, still_working
from p2pfleet.core.verify import (
    Agreement,
    QuorumDecision,
    QuorumStatus,
    ShardQuorum,
    exact_agreement,
)
from p2pfleet.net.host import FleetHost
from p2pfleet.peerview import PeerView, now_ms
from p2pfleet.submit.events import EventKind, EventSink, job_event
from p2pfleet.submit.planner import JobPlan, ShardPlan
from p2pfleet.submit.replica import Replica, ReplicaOutcome, ReplicaTimeouts, run_replica
from p2pfleet.submit.reveals import MISMATCHED_REVEAL, TolerantReveals

ReplicaSink = Callable[[int, Replica], None]  # (shard index, replica with a final vote or loss)

CHURN_POLL_S = 0.2  # advert expiry is a matter of time, not of a new message
LOST_OUTCOMES = frozenset(
    {ReplicaOutcome.REJECTED, ReplicaOutcome.ABANDONED, ReplicaOutcome.FAILED}
)


class ShardFailedError(Exception):
    """A shard could not be verified (no agreement within the replica cap, or no nodes).

    `record` holds the replicas run so far; `votes` (node key -> fingerprint,
    as the quorum counted them) is set when the votes never reached a quorum:
    the caller may settle the shard by recomputing it and judging the votes.
    """

    def __init__(
        self,
        message: str,
        *,
        record: ShardRecord | None = None,
        votes: dict[bytes, bytes] | None = None,
    ) -> None:
        super().__init__(message)
        self.record = record
        self.votes = votes


@dataclass(slots=True)
class ShardRecord:
    shard: ShardPlan
    replicas: list[Replica] = field(default_factory=list)
    accepted_hash: bytes | None = None
    agreeing: tuple[bytes, ...] = ()
    dissenting: tuple[bytes, ...] = ()
    output: bytes | None = None
    checked: bool = True  # False: accepted from one trusted node without a second opinion
    settled_locally: bool = False  # a dispute (or the cap) settled by the submitter's own run
    started_at: float = field(default_factory=time.monotonic)
    verified_at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardMode:
    """How hard to verify one shard."""

    replicas: int
    max_replicas: int
    reveal: bool = True  # canaries need only the signed commit
    admit: Callable[[SignedAdvert], bool] | None = None  # e.g. trusted nodes only
    # Adaptive: the first replica goes out alone; solo(advert) True = accept it unchecked.
    solo: Callable[[SignedAdvert], bool] | None = None
    agree: Agreement = exact_agreement
    tolerant: bool = False  # every replica reveals; votes are outputs compared by `agree`
    settle_disputes: bool = True  # a disagreement goes to a local run (False: escalate)


class Capacity:
    """Per-node in-flight assignments across a whole job (backpressure) and the share cap."""

    def __init__(self, max_per_node: int, max_per_job: int | None = None) -> None:
        self.max_per_node = max_per_node
        self.max_per_job = max_per_job
        self.load: Counter[bytes] = Counter()
        self.assigned: Counter[bytes] = Counter()  # assignments in this job so far
        self._changed = trio.Event()

    def take(self, node_key: bytes) -> None:
        self.load[node_key] += 1
        self.assigned[node_key] += 1

    def release(self, node_key: bytes) -> None:
        self.load[node_key] -= 1
        self._changed.set()
        self._changed = trio.Event()

    async def wait_changed(self) -> None:
        await self._changed.wait()


class ShardCoordinator:
    def __init__(
        self,
        host: FleetHost,
        peers: PeerView,
        plan: JobPlan,
        needs: ShardNeeds,
        capacity: Capacity,
        rng: random.Random,
        timeouts: ReplicaTimeouts,
        *,
        emit: EventSink | None = None,
        banned: set[bytes] | None = None,
        on_replica_done: ReplicaSink | None = None,
    ) -> None:
        self._on_replica_done = on_replica_done or (lambda shard, replica: None)
        self._host = host
        self._peers = peers
        self._plan = plan
        self._needs = needs
        self._capacity = capacity
        self._rng = rng
        self._timeouts = timeouts
        self._emit = emit if emit is not None else (lambda event: None)
        self.banned = banned if banned is not None else set()  # caught cheaters: not again
        self._job = plan.job_id.hex()

    def _event(
        self, kind: EventKind, shard: int, node: bytes | None = None, **data: object
    ) -> None:
        detail = str(data.pop("detail", ""))
        self._emit(job_event(kind, self._job, shard, node, detail, **data))

    async def run(self, shard: ShardPlan, mode: ShardMode) -> ShardRecord:
        record = ShardRecord(shard)
        quorum = ShardQuorum(
            replicas=mode.replicas,
            max_replicas=mode.max_replicas,
            agree=mode.agree,
            settle_disputes=mode.settle_disputes,
        )
        send, receive = trio.open_memory_channel[Replica](math.inf)
        reveals = TolerantReveals() if mode.tolerant else None
        failure: ShardFailedError | None = None
        async with trio.open_nursery() as nursery:
            try:
                nursery.start_soon(self._watch_churn, record)
                if mode.solo is None:
                    await self._place(
                        nursery, record, quorum, mode, mode.replicas, send, first=True
                    )
                else:
                    await self._place(nursery, record, quorum, mode, 1, send, first=True)
                    if mode.replicas > 1 and mode.solo(record.replicas[0].advert):
                        quorum.replicas, record.checked = 1, False
                    else:
                        await self._place(nursery, record, quorum, mode, mode.replicas - 1, send)
                decision = await self._until_accepted(
                    nursery, record, quorum, mode, send, receive, reveals
                )
                record.accepted_hash = decision.accepted_hash
                record.agreeing, record.dissenting = decision.agreeing, decision.dissenting
                for replica in record.replicas:  # not needed any more
                    if replica.outcome is ReplicaOutcome.RUNNING:
                        replica.cancel_scope.cancel()
                try:
                    if reveals is None:
                        await self._reveal(record, mode)
                    else:
                        self._choose_tolerant_output(record)
                finally:
                    for replica in record.replicas:
                        replica.decide_reveal(False)
                    nursery.cancel_scope.cancel()
            except ShardFailedError as exc:  # raised out of the nursery, not as a group
                failure = exc
                nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure

        record.verified_at = time.monotonic()
        return record

    async def _until_accepted(
        self,
        nursery: trio.Nursery,
        record: ShardRecord,
        quorum: ShardQuorum,
        mode: ShardMode,
        send: trio.MemorySendChannel[Replica],
        receive: trio.MemoryReceiveChannel[Replica],
        reveals: TolerantReveals | None,
    ) -> QuorumDecision:
        """Count commits (or tolerant reveals) and losses until a quorum accepts.

        A dispute (or, escalating, a cap reached without agreement) raises a
        ShardFailedError carrying the votes: the runner settles the shard with its own run.
        """
        shard = record.shard
        while (decision := quorum.decide()).status is not QuorumStatus.ACCEPTED:
            if decision.status is QuorumStatus.DISPUTED:
                raise ShardFailedError(
                    f"shard {shard.index}: replicas disagree", record=record, votes=quorum.votes
                )
            if decision.status is QuorumStatus.FAILED:
                raise ShardFailedError(
                    f"shard {shard.index}: no {mode.replicas} agreeing replicas "
                    f"within the cap of {mode.max_replicas}",
                    record=record,
                    votes=quorum.votes,
                )
            if decision.status is QuorumStatus.NEED_MORE:
                await self._place(nursery, record, quorum, mode, decision.replicas_to_add, send)
                continue
            if reveals is not None:
                reveals.request(record.replicas, nursery, send)
            replica = await receive.receive()
            if reveals is not None and reveals.is_reveal(replica):
                self._count_reveal(record, quorum, mode, replica)
                continue
            self._on_replica_done(shard.index, replica)
            if replica.outcome is ReplicaOutcome.COMMITTED and replica.commit is not None:
                if reveals is None:
                    quorum.record_vote(
                        replica.node_key,
                        replica.advert.advert.owner,
                        replica.commit.output_hash,
                    )
                else:
                    reveals.committed(replica)
                self._event(EventKind.COMMITTED, shard.index, replica.node_key)
                self._report_dispute(shard.index, quorum, replica)
            else:
                if reveals is not None:
                    reveals.lost(replica)
                self._count_loss(record, quorum, mode, replica)
        return decision

    def _report_dispute(self, index: int, quorum: ShardQuorum, replica: Replica) -> None:
        if len(quorum.groups()) > 1:
            self._event(
                EventKind.DISPUTED,
                index,
                replica.node_key,
                detail="replicas disagree; "
                + ("settling locally" if quorum.settle_disputes else "escalating"),
            )

    def _count_loss(
        self, record: ShardRecord, quorum: ShardQuorum, mode: ShardMode, replica: Replica
    ) -> None:
        quorum.record_loss()
        if not record.checked:  # the trusted node left: verify the normal way
            quorum.replicas, record.checked = mode.replicas, True
        self._event(
            EventKind.LOST,
            record.shard.index,
            replica.node_key,
            detail=f"{replica.outcome.value}: {replica.detail}",
        )

    def _count_reveal(
        self, record: ShardRecord, quorum: ShardQuorum, mode: ShardMode, replica: Replica
    ) -> None:
        """Tolerant tier: a revealed output is the replica's vote, if it matches its commit."""
        output, commit = replica.output, replica.commit
        if output is None or commit is None:  # it left (or failed) instead of revealing
            replica.detail = f"no reveal ({replica.detail or 'stream ended'})"
            self._count_loss(record, quorum, mode, replica)
            return
        if hashlib.sha256(output).digest() != commit.output_hash:
            replica.detail = "revealed output does not match its commit"
            output = MISMATCHED_REVEAL + replica.node_key  # agrees with nothing
        quorum.record_vote(replica.node_key, replica.advert.advert.owner, output)
        self._event(EventKind.REVEALED, record.shard.index, replica.node_key)
        self._report_dispute(record.shard.index, quorum, replica)

    def _choose_tolerant_output(self, record: ShardRecord) -> None:
        """The accepted output: one agreeing replica's revealed bytes, chosen at random."""
        agreeing = [
            r for r in record.replicas if r.node_key in record.agreeing and r.output is not None
        ]
        chosen = self._rng.choice(agreeing)
        assert chosen.output is not None
        record.output = chosen.output
        record.accepted_hash = hashlib.sha256(chosen.output).digest()

    async def _reveal(self, record: ShardRecord, mode: ShardMode) -> None:
        """Download one agreeing output and check it against the agreed hash."""
        if not mode.reveal:
            return
        agreeing = [r for r in record.replicas if r.node_key in record.agreeing]
        self._rng.shuffle(agreeing)
        for replica in agreeing:
            replica.decide_reveal(True)
            await replica.finished.wait()
            output, result = replica.output, replica.result
            if (
                output is not None
                and result is not None
                and replica.commit is not None
                and result.output_hash == replica.commit.output_hash
                and (
                    record.accepted_hash is None
                    or mode.agree is not exact_agreement
                    or hashlib.sha256(output).digest() == record.accepted_hash
                )
            ):
                record.output = output
                return
            replica.detail = replica.detail or "revealed output does not match its commit"
        raise ShardFailedError(
            f"shard {record.shard.index}: no agreeing replica revealed a matching output",
            record=record,
        )

    async def _watch_churn(self, record: ShardRecord) -> None:
        """Drop replicas whose node stopped advertising or started driving: reassign now."""
        while True:
            now = now_ms()
            for replica in record.replicas:
                if replica.outcome is ReplicaOutcome.RUNNING and not still_working(
                    self._peers.table.get(replica.node_key), now
                ):
                    current = self._peers.table.get(replica.node_key)
                    replica.drop(
                        "advert expired"
                        if current is None or current.advert.expires_at_ms <= now
                        else f"node is {current.advert.state.value}"
                    )
            with trio.move_on_after(CHURN_POLL_S):
                await self._peers.wait_changed()

    async def _place(
        self,
        nursery: trio.Nursery,
        record: ShardRecord,
        quorum: ShardQuorum,
        mode: ShardMode,
        count: int,
        events: trio.MemorySendChannel[Replica],
        *,
        first: bool = False,
    ) -> None:
        """Place `count` more replicas, waiting for eligible capacity if there is none yet.

        The first placement is all-or-none, so shards never hold part of the
        fleet while waiting for the rest (no hold-and-wait deadlock).
        """
        deadline_ms = self._plan.manifest.manifest.deadline_ms
        while count > 0:
            live = self._peers.live()
            used_nodes, used_owners = shard_exclusions(
                (r.node_key, r.advert.advert.owner, r.outcome in LOST_OUTCOMES)
                for r in record.replicas
            )
            exclude = used_nodes | self.banned
            if mode.admit is not None:
                exclude |= {s.node_key for s in live if not mode.admit(s)}
            chosen = choose_replicas(
                live,
                count,
                needs=self._needs,
                now_ms=now_ms(),
                rng=self._rng,
                exclude_nodes=exclude,
                exclude_owners=used_owners,
                load=dict(self._capacity.load),
                max_load=self._capacity.max_per_node,
                job_load=dict(self._capacity.assigned),
                max_job_load=self._capacity.max_per_job,
            )
            if first and len(chosen) < count:
                chosen = []
            for advert in chosen:
                replica = Replica(advert, on_settled=self._capacity.release)
                record.replicas.append(replica)
                self._capacity.take(replica.node_key)
                quorum.place()
                self._event(
                    EventKind.REASSIGNED if quorum.lost else EventKind.ASSIGNED,
                    record.shard.index,
                    replica.node_key,
                )
                nursery.start_soon(
                    run_replica,
                    self._host,
                    self._plan,
                    record.shard,
                    replica,
                    events,
                    self._timeouts,
                )
            count -= len(chosen)
            if count > 0:
                if now_ms() > deadline_ms:
                    raise ShardFailedError(
                        f"shard {record.shard.index}: no eligible node before the deadline"
                    )
                with trio.move_on_after(1.0):
                    async with trio.open_nursery() as waiters:

                        async def first_of(wait: Callable[[], object]) -> None:
                            await wait()  # type: ignore[misc]
                            waiters.cancel_scope.cancel()

                        waiters.start_soon(first_of, self._peers.wait_changed)
                        waiters.start_soon(first_of, self._capacity.wait_changed)
