"""Verification: k independent replicas on distinct owners must agree.

Theory of operation: every replica's signed commit is a vote for an output
fingerprint (the SHA-256 of its canonical output for the exact tier). Votes
are grouped by an injectable agreement function `agree(a, b) -> bool`
(default: byte equality, the exact tier; the tolerant tier plugs in a
comparator over revealed outputs). A group is accepted once `replicas` votes
from distinct owners agree on it and nobody disagrees.

A disagreement is a dispute. By default (`settle_disputes`) the outstanding
replicas finish voting and the submitter then settles the shard with its own
run (DISPUTED); voters who disagree with that run were wrong. So a wrong
output is accepted only if all `replicas` votes came from colluders: with a
fraction f of colluding Byzantine slots, random placement and
commit-before-reveal, P(accept wrong) <= f**replicas. The alternative,
escalation, adds replicas up to `max_replicas` and accepts the first group
of `replicas`; it needs no local run, but colluders who draw `replicas` of
the up to `max_replicas` slots win, which costs the bound (k = 6 of 9 at
f = 10%: of order C(9, 6) f**6, 1e-4 measured by `p2pfleet simulate`).
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


def judge_votes(
    votes: dict[bytes, bytes], reference: bytes, agree: Agreement
) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """(agreeing, dissenting) voters against the submitter's own `reference` result."""
    verdicts = {node: agree(vote, reference) for node, vote in votes.items()}
    return (
        tuple(node for node, ok in verdicts.items() if ok),
        tuple(node for node, ok in verdicts.items() if not ok),
    )


class QuorumStatus(StrEnum):
    PENDING = "pending"  # waiting for outstanding replicas
    NEED_MORE = "need-more"  # losses (or, escalating, a disagreement): add replicas
    ACCEPTED = "accepted"
    DISPUTED = "disputed"  # every vote is in and they disagree: the submitter settles it
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
    settle_disputes: bool = True  # False: escalate with more replicas instead
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
        if self.settle_disputes and len(groups) > 1:
            outstanding = self.assigned - len(self.votes) - self.lost
            return QuorumDecision(QuorumStatus.PENDING if outstanding else QuorumStatus.DISPUTED)
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
