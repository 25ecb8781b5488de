"""Job events: what the progress display and `--json` scripts see, one per change."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from p2pfleet.core.identity import peer_id_from_public_key


class EventKind(StrEnum):
    JOB_STARTED = "job-started"
    QUEUED = "queued"  # a shard waits for placement (first time, or redone)
    ASSIGNED = "assigned"  # a replica was placed on a node
    COMMITTED = "committed"  # a replica sent its signed commitment
    REVEALED = "revealed"  # tolerant tier: a replica revealed its output (its vote)
    LOST = "lost"  # a replica was rejected, abandoned, reset, timed out or dropped
    REASSIGNED = "reassigned"  # a replacement replica was placed after a loss
    DISPUTED = "disputed"  # replicas disagreed: settling locally (or escalating)
    VERIFIED = "verified"  # a shard's output was accepted (checked or trusted)
    CANARY = "canary"  # a hidden canary was judged
    CAUGHT = "caught"  # a node returned a wrong answer
    REDO = "redo"  # an unchecked shard of a caught node goes back to the queue
    JOB_FINISHED = "job-finished"


@dataclass(frozen=True, slots=True, kw_only=True)
class JobEvent:
    kind: EventKind
    job_id: str
    shard: int | None = None
    peer: str | None = None
    detail: str = ""
    at: float = field(default_factory=time.time)
    data: tuple[tuple[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "event": self.kind.value,
            "job": self.job_id,
            "at": round(self.at, 3),
        }
        if self.shard is not None:
            doc["shard"] = self.shard
        if self.peer is not None:
            doc["peer"] = self.peer
        if self.detail:
            doc["detail"] = self.detail
        doc.update(dict(self.data))
        return doc


EventSink = Callable[[JobEvent], None]


def job_event(
    kind: EventKind,
    job_id: str,
    shard: int | None = None,
    node: bytes | None = None,
    detail: str = "",
    **data: object,
) -> JobEvent:
    """An event about `node` (a public key, shown as its peer id), with extra JSON fields."""
    peer = peer_id_from_public_key(node) if node is not None else None
    return JobEvent(
        kind=kind, job_id=job_id, shard=shard, peer=peer, detail=detail, data=tuple(data.items())
    )


_SHARD_STATE = {
    EventKind.QUEUED: "queued",
    EventKind.REDO: "queued",
    EventKind.ASSIGNED: "running",
    EventKind.REASSIGNED: "running",
    EventKind.COMMITTED: "committed",
    EventKind.DISPUTED: "disputed",
    EventKind.VERIFIED: "verified",
}


@dataclass(slots=True)
class ShardCounts:
    """Live counters for the progress display, fed from the event stream."""

    total: int = 0
    states: dict[int, str] = field(default_factory=dict)
    reassigned: int = 0
    disputed: int = 0
    caught: int = 0

    def feed(self, event: JobEvent) -> None:
        if event.kind is EventKind.JOB_STARTED:
            self.total = int(dict(event.data).get("shards", 0))
        elif (
            event.shard is not None
            and (state := _SHARD_STATE.get(event.kind))
            and (self.states.get(event.shard) != "verified" or event.kind is EventKind.REDO)
        ):
            self.states[event.shard] = state
        self.reassigned += event.kind is EventKind.REASSIGNED
        self.disputed += event.kind is EventKind.DISPUTED
        self.caught += event.kind is EventKind.CAUGHT

    def by_state(self) -> Counter[str]:
        counts = Counter(self.states.values())
        counts["queued"] += max(0, self.total - len(self.states))
        return counts
