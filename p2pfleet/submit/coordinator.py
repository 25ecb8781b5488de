"""Drives one shard to a verified output: placement, quorum, escalation, reveal.

Theory of operation: place `replicas` copies on random eligible nodes of
distinct owners; every commit is a vote (core.verify.ShardQuorum). A loss
(reject, abandon, reset stream, timeout) or a disagreement places more copies,
up to the policy's cap. Once a hash has enough agreeing votes the reveal gate
opens: committed replicas reveal their signed outputs, and the accepted
output is a revealed one whose bytes hash to the agreed value.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import trio

from p2pfleet.core.scheduler import ShardNeeds, choose_replicas
from p2pfleet.core.verify import QuorumStatus, ShardQuorum
from p2pfleet.net.host import FleetHost
from p2pfleet.peerview import PeerView, now_ms
from p2pfleet.submit.planner import JobPlan, ShardPlan
from p2pfleet.submit.replica import Replica, ReplicaOutcome, ReplicaTimeouts, run_replica


class ShardFailedError(Exception):
    """A shard could not be verified (no agreement within the replica cap, or no nodes)."""


@dataclass(slots=True)
class ShardRecord:
    shard: ShardPlan
    replicas: list[Replica] = field(default_factory=list)
    accepted_hash: bytes | None = None
    agreeing: tuple[bytes, ...] = ()
    dissenting: tuple[bytes, ...] = ()
    output: bytes | None = None
    started_at: float = field(default_factory=time.monotonic)
    verified_at: float | None = None


class Capacity:
    """Per-node in-flight assignments across a whole job (backpressure)."""

    def __init__(self, max_per_node: int) -> None:
        self.max_per_node = max_per_node
        self.load: Counter[bytes] = Counter()
        self._changed = trio.Event()

    def take(self, node_key: bytes) -> None:
        self.load[node_key] += 1

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
    ) -> None:
        self._host = host
        self._peers = peers
        self._plan = plan
        self._needs = needs
        self._capacity = capacity
        self._rng = rng
        self._timeouts = timeouts

    async def run(self, shard: ShardPlan) -> ShardRecord:
        policy = self._plan.manifest.manifest.replication
        record = ShardRecord(shard)
        quorum = ShardQuorum(replicas=policy.replicas, max_replicas=policy.max_replicas)
        reveal_gate = trio.Event()
        send, receive = trio.open_memory_channel[Replica](math.inf)
        async with trio.open_nursery() as nursery:
            await self._place(
                nursery, record, quorum, policy.replicas, send, reveal_gate, all_or_none=True
            )
            while (decision := quorum.decide()).status is not QuorumStatus.ACCEPTED:
                if decision.status is QuorumStatus.FAILED:
                    nursery.cancel_scope.cancel()
                    raise ShardFailedError(
                        f"shard {shard.index}: no {policy.replicas} agreeing replicas "
                        f"within the cap of {policy.max_replicas}"
                    )
                if decision.status is QuorumStatus.NEED_MORE:
                    await self._place(
                        nursery, record, quorum, decision.replicas_to_add, send, reveal_gate
                    )
                    continue
                replica = await receive.receive()
                if replica.outcome is ReplicaOutcome.COMMITTED and replica.commit is not None:
                    quorum.record_vote(
                        replica.node_key, replica.advert.advert.owner, replica.commit.output_hash
                    )
                else:
                    quorum.record_loss()
            record.accepted_hash = decision.accepted_hash
            record.agreeing, record.dissenting = decision.agreeing, decision.dissenting
            for replica in record.replicas:  # not needed any more
                if replica.outcome is ReplicaOutcome.RUNNING:
                    replica.cancel_scope.cancel()
            reveal_gate.set()
        for replica in record.replicas:
            if replica.node_key in record.agreeing and replica.output is not None:
                record.output = replica.output
                break
        if record.output is None:
            raise ShardFailedError(f"shard {shard.index}: no agreeing replica revealed its output")
        record.verified_at = time.monotonic()
        return record

    async def _place(
        self,
        nursery: trio.Nursery,
        record: ShardRecord,
        quorum: ShardQuorum,
        count: int,
        events: trio.MemorySendChannel[Replica],
        reveal_gate: trio.Event,
        *,
        all_or_none: bool = False,
    ) -> None:
        """Place `count` more replicas, waiting for eligible capacity if there is none yet.

        The first placement is all-or-none, so shards never hold part of the
        fleet while waiting for the rest (no hold-and-wait deadlock).
        """
        deadline_ms = self._plan.manifest.manifest.deadline_ms
        while count > 0:
            used_nodes = {r.node_key for r in record.replicas}
            used_owners = {r.advert.advert.owner for r in record.replicas}
            chosen = choose_replicas(
                self._peers.live(),
                count,
                needs=self._needs,
                now_ms=now_ms(),
                rng=self._rng,
                exclude_nodes=used_nodes,
                exclude_owners=used_owners,
                load=dict(self._capacity.load),
                max_load=self._capacity.max_per_node,
            )
            if all_or_none and len(chosen) < count:
                chosen = []
            for advert in chosen:
                replica = Replica(advert, on_settled=self._capacity.release)
                record.replicas.append(replica)
                self._capacity.take(replica.node_key)
                quorum.place()
                nursery.start_soon(
                    run_replica,
                    self._host,
                    self._plan,
                    record.shard,
                    replica,
                    events,
                    reveal_gate,
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

                        async def first(wait: object) -> None:
                            await wait()  # type: ignore[operator]
                            waiters.cancel_scope.cancel()

                        waiters.start_soon(first, self._peers.wait_changed)
                        waiters.start_soon(first, self._capacity.wait_changed)
