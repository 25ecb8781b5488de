"""The submitter's bookkeeping for simulated jobs, shards and replica runs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from p2pfleet.core.scheduler import ShardNeeds
from p2pfleet.core.verify import ShardQuorum
from p2pfleet.sim.fleet import SimVehicle


@dataclass(slots=True, eq=False)
class SimJob:
    index: int
    submitted_s: float
    real_shards: int
    canaries: int
    needs: ShardNeeds
    banned: set[bytes] = field(default_factory=set)  # caught in this job (coordinator.banned)
    outstanding: set[int] = field(default_factory=set)  # shard indexes not yet accepted
    results: dict[int, bytes] = field(default_factory=dict)  # real shard index -> accepted hash
    unchecked: dict[bytes, list[int]] = field(default_factory=dict)  # node -> trusted results
    finished_s: float | None = None

    def shard_id(self, index: int) -> int:
        """A fleet-wide shard id: the right answer is a function of it."""
        return self.index * 1_000_000 + index


@dataclass(slots=True, eq=False)
class SimShard:
    job: SimJob
    index: int
    canary: bool
    quorum: ShardQuorum
    solo: bool  # adaptive: the first replica goes out alone; trusted nodes may stay alone
    checked: bool = True
    started: bool = False
    retry_pending: bool = False
    done: bool = False
    runs: list[Run] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Run:
    shard: SimShard
    vehicle: SimVehicle
    started_s: float
    vote: bytes | None = None  # None: the node will drop the shard silently
    live: bool = True  # False once it committed, was lost, or was no longer needed


@dataclass(slots=True)
class Tally:
    """Everything the submitter counts; the report is computed from it."""

    assignments: int = 0
    reassignments: int = 0  # replicas placed after a loss (live: EventKind.REASSIGNED)
    votes: int = 0  # replica runs that delivered a commit
    abandoned: int = 0  # runs cut short because the vehicle drove off
    dropped: int = 0  # runs that never committed (flaky nodes): timed out
    refused: int = 0  # assignments refused at admission
    cancelled: int = 0  # runs no longer needed once the quorum was in
    disputed: int = 0  # shards whose replicas disagreed
    unchecked: int = 0  # shards accepted from one trusted node
    redone: int = 0  # unchecked results redone because their node was caught
    recomputed: int = 0  # disputes (or an escalation cap) settled by the submitter
    canaries: int = 0
    placement_waits: int = 0  # placements that found too few eligible nodes and waited
    caught: Counter[int] = field(default_factory=Counter)  # vehicle index -> times caught
