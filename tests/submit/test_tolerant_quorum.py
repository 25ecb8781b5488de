"""The quorum with a tolerant comparator, and when tolerant-tier reveals are requested."""

from __future__ import annotations

import numpy as np
import trio

from p2pfleet.core.verify import QuorumStatus, ShardQuorum
from p2pfleet.inference.compare import comparator_for
from p2pfleet.inference.tensors import encode_tensor
from p2pfleet.submit.replica import Replica, ReplicaOutcome
from p2pfleet.submit.reveals import MISMATCHED_REVEAL, TolerantReveals
from tests.core.factories import signed_advert


def node(n: int) -> bytes:
    return bytes([n]) * 32


def owner(n: int) -> bytes:
    return bytes([100 + n]) * 32


def embeddings(noise: float, seed: int) -> bytes:
    base = np.random.default_rng(0).standard_normal((4, 384))
    jitter = np.random.default_rng(seed).standard_normal(base.shape) * noise
    vectors = base + jitter
    return encode_tensor((vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype("f4"))


def test_honest_noise_groups_together_and_a_perturbed_output_dissents() -> None:
    honest = [embeddings(1e-6, seed) for seed in (1, 2, 3)]
    liar = embeddings(0.2, 9)
    assert len(set(honest)) == 3  # every honest replica would commit a different hash
    q = ShardQuorum(
        replicas=3, max_replicas=5, agree=comparator_for("embeddings"), settle_disputes=False
    )
    q.place(4)
    q.record_vote(node(9), owner(9), liar)  # the liar reveals first
    for n, output in enumerate(honest, start=1):
        q.record_vote(node(n), owner(n), output)
    decision = q.decide()
    assert decision.status is QuorumStatus.ACCEPTED
    assert decision.accepted_hash == honest[0]  # the group's first output
    assert set(decision.agreeing) == {node(1), node(2), node(3)}
    assert decision.dissenting == (node(9),)


def test_exact_equality_would_never_accept_honest_float_noise() -> None:
    q = ShardQuorum(replicas=2, max_replicas=2)
    q.place(2)
    q.record_vote(node(1), owner(1), embeddings(1e-6, 1))
    q.record_vote(node(2), owner(2), embeddings(1e-6, 2))
    assert q.decide().status is QuorumStatus.DISPUTED


def test_mismatched_reveals_agree_with_nothing_not_even_each_other() -> None:
    agree = comparator_for("embeddings")
    a, b = MISMATCHED_REVEAL + node(1), MISMATCHED_REVEAL + node(2)
    assert not agree(a, b) and not agree(a, embeddings(0, 1))


def replica(n: int) -> Replica:
    return Replica(signed_advert(n, 50 + n))


def test_reveals_wait_until_every_placed_replica_committed_or_was_lost() -> None:
    async def main() -> None:
        send, receive = trio.open_memory_channel[Replica](10)
        replicas = [replica(1), replica(2), replica(3)]
        reveals = TolerantReveals()
        async with trio.open_nursery() as nursery:
            replicas[0].outcome = ReplicaOutcome.COMMITTED
            reveals.committed(replicas[0])
            reveals.request(replicas, nursery, send)
            assert not replicas[0].reveal_decided.is_set()  # two replicas still computing
            replicas[1].outcome = ReplicaOutcome.FAILED
            reveals.lost(replicas[1])
            reveals.request(replicas, nursery, send)
            assert not replicas[0].reveal_decided.is_set()
            replicas[2].outcome = ReplicaOutcome.COMMITTED
            reveals.committed(replicas[2])
            reveals.request(replicas, nursery, send)
            assert replicas[0].reveal_wanted and replicas[2].reveal_wanted
            assert not replicas[1].reveal_decided.is_set()
            for r in (replicas[2], replicas[0]):
                r.finished.set()
                reported = await receive.receive()
                assert reported is r and reveals.is_reveal(reported)
                assert not reveals.is_reveal(reported)  # one reveal report per replica

    trio.run(main)
