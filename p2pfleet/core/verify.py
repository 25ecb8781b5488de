"""Verification: k independent replicas on distinct owners must agree.

Theory of operation: every replica's signed commit is a vote for an output
fingerprint (the SHA-256 of its canonical output for the exact tier). Votes
are grouped by an injectable agreement function `agree(a, b) -> bool`
(default: byte equality, the exact tier; the tolerant tier plugs in a
comparator over revealed outputs). A group is accepted once `replicas` votes
from distinct owners agree on it. While no group is big enough and some
votes disagree, the shard escalates: more replicas are added, up to
`max_replicas`. Voters outside the accepted group are the dissenters: the
side that was wrong. With a fraction f of colluding Byzantine slots, random
placement and commit-before-reveal, P(accept wrong) <= f**replicas.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

Agreement = Callable[[bytes, bytes], bool]


def exact_agreement(a: bytes, b: bytes) -> bool:
    """The exact tier: two fingerprints agree only if they are the same bytes."""
    return a == b


def replicas_for_bound(byzantine_fraction: float, bound: float) -> int:
    """The smallest k with byzantine_fraction**k <= bound (k-unanimity with escalation)."""
    if not 0 < byzantine_fraction < 1 or not 0 < bound < 1:
        raise ValueError("byzantine_fraction and bound must both be within (0, 1)")
    return max(1, math.ceil(math.log(bound) / math.log(byzantine_fraction) - 1e-9))


class QuorumStatus(StrEnum):
    PENDING = "pending"  # waiting for outstanding replicas
    NEED_MORE = "need-more"  # disagreement (or losses): add replicas
    ACCEPTED = "accepted"
    FAILED = "failed"  # escalation cap reached without agreement


@dataclass(frozen=True, slots=True)
class QuorumDecision:
    status: QuorumStatus
    accepted_hash: bytes | None = None
    agreeing: tuple[bytes, ...] = ()  # node keys that voted with the accepted group
    dissenting: tuple[bytes, ...] = ()  # node keys that voted for anything else: the wrong side
    replicas_to_add: int = 0

    @property
    def disputed(self) -> bool:
        return bool(self.dissenting)


@dataclass(slots=True)
class ShardQuorum:
    """Votes for one shard. Pure: the caller feeds commits and asks for a decision."""

    replicas: int
    max_replicas: int
    agree: Agreement = exact_agreement
    votes: dict[bytes, bytes] = field(default_factory=dict)  # node key -> output fingerprint
    owners: dict[bytes, bytes] = field(default_factory=dict)  # node key -> owner key
    assigned: int = 0  # replicas placed so far, including outstanding ones
    lost: int = 0  # replicas that abandoned, failed or timed out

    def __post_init__(self) -> None:
        if not 1 <= self.replicas <= self.max_replicas:
            raise ValueError("need 1 <= replicas <= max_replicas")

    def place(self, count: int = 1) -> None:
        self.assigned += count

    def record_loss(self) -> None:
        self.lost += 1

    def record_vote(self, node_key: bytes, owner: bytes, output_hash: bytes) -> None:
        if node_key in self.votes:
            raise ValueError("a node votes once per shard")
        self.votes[node_key] = output_hash
        self.owners[node_key] = owner

    def groups(self) -> list[tuple[bytes, list[bytes]]]:
        """Votes grouped by agreement with each group's first fingerprint, in vote order."""
        groups: list[tuple[bytes, list[bytes]]] = []
        for node, digest in self.votes.items():
            for representative, members in groups:
                if self.agree(representative, digest):
                    members.append(node)
                    break
            else:
                groups.append((digest, [node]))
        return groups

    def decide(self) -> QuorumDecision:
        groups = self.groups()
        for digest, members in groups:
            if len({self.owners[n] for n in members}) >= self.replicas:
                agreeing = tuple(members)
                dissenting = tuple(n for n in self.votes if n not in members)
                return QuorumDecision(QuorumStatus.ACCEPTED, digest, agreeing, dissenting)
        outstanding = self.assigned - len(self.votes) - self.lost
        best = max((len({self.owners[n] for n in m}) for _, m in groups), default=0)
        missing = self.replicas - best  # votes still needed by the best-supported group
        if outstanding >= missing:
            return QuorumDecision(QuorumStatus.PENDING)
        room = self.max_replicas - self.assigned + self.lost
        needed = missing - outstanding
        if needed > room:  # even unanimous new replicas could not reach the quorum
            return QuorumDecision(QuorumStatus.FAILED)
        return QuorumDecision(QuorumStatus.NEED_MORE, replicas_to_add=needed)

    def tally(self) -> Counter[bytes]:
        return Counter(self.votes.values())
