"""Exact-tier verification: k independent replicas must agree bit for bit.

Theory of operation: every replica's signed commit is a vote for an output
hash. A hash is accepted once `replicas` votes from distinct owners agree on
it. While no hash has enough votes and some votes disagree, the shard
escalates: more replicas are added, up to `max_replicas`. Voters whose hash
differs from the accepted one are the dissenters (penalise them). With a
fraction f of colluding Byzantine slots and random placement,
P(accept wrong) <= f**replicas.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum


class QuorumStatus(StrEnum):
    PENDING = "pending"  # waiting for outstanding replicas
    NEED_MORE = "need-more"  # disagreement (or losses): add replicas
    ACCEPTED = "accepted"
    FAILED = "failed"  # escalation cap reached without agreement


@dataclass(frozen=True, slots=True)
class QuorumDecision:
    status: QuorumStatus
    accepted_hash: bytes | None = None
    agreeing: tuple[bytes, ...] = ()  # node keys that voted for the accepted hash
    dissenting: tuple[bytes, ...] = ()  # node keys that voted for anything else
    replicas_to_add: int = 0


@dataclass(slots=True)
class ShardQuorum:
    """Votes for one shard. Pure: the caller feeds commits and asks for a decision."""

    replicas: int
    max_replicas: int
    votes: dict[bytes, bytes] = field(default_factory=dict)  # node key -> output hash
    owners: dict[bytes, bytes] = field(default_factory=dict)  # node key -> owner key
    assigned: int = 0  # replicas placed so far, including outstanding ones
    lost: int = 0  # replicas that abandoned, failed or timed out

    def place(self, count: int = 1) -> None:
        self.assigned += count

    def record_loss(self) -> None:
        self.lost += 1

    def record_vote(self, node_key: bytes, owner: bytes, output_hash: bytes) -> None:
        if node_key in self.votes:
            raise ValueError("a node votes once per shard")
        self.votes[node_key] = output_hash
        self.owners[node_key] = owner

    def decide(self) -> QuorumDecision:
        by_hash: dict[bytes, set[bytes]] = {}
        for node, digest in self.votes.items():
            by_hash.setdefault(digest, set()).add(self.owners[node])
        for digest, owners in by_hash.items():
            if len(owners) >= self.replicas:
                agreeing = tuple(n for n, d in self.votes.items() if d == digest)
                dissenting = tuple(n for n, d in self.votes.items() if d != digest)
                return QuorumDecision(QuorumStatus.ACCEPTED, digest, agreeing, dissenting)
        outstanding = self.assigned - len(self.votes) - self.lost
        best = max((len(o) for o in by_hash.values()), default=0)
        missing = self.replicas - best  # votes still needed by the best-supported hash
        if outstanding >= missing:
            return QuorumDecision(QuorumStatus.PENDING)
        room = self.max_replicas - self.assigned + self.lost
        needed = missing - outstanding
        if needed > room:  # even unanimous new replicas could not reach the quorum
            return QuorumDecision(QuorumStatus.FAILED)
        return QuorumDecision(QuorumStatus.NEED_MORE, replicas_to_add=needed)

    def tally(self) -> Counter[bytes]:
        return Counter(self.votes.values())
