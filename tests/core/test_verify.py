"""Exact-tier quorum: agreement, disputes settled locally or by escalation, distinct owners."""

from __future__ import annotations

from p2pfleet.core.verify import QuorumStatus, ShardQuorum

H1, H2, H3 = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32


def node(n: int) -> bytes:
    return bytes([n]) * 32


def owner(n: int) -> bytes:
    return bytes([100 + n]) * 32


def test_agreement_is_accepted() -> None:
    q = ShardQuorum(replicas=2, max_replicas=4)
    q.place(2)
    assert q.decide().status is QuorumStatus.PENDING
    q.record_vote(node(1), owner(1), H1)
    assert q.decide().status is QuorumStatus.PENDING
    q.record_vote(node(2), owner(2), H1)
    decision = q.decide()
    assert decision.status is QuorumStatus.ACCEPTED
    assert decision.accepted_hash == H1
    assert set(decision.agreeing) == {node(1), node(2)} and decision.dissenting == ()


def test_escalating_disagreement_needs_more_then_names_the_dissenter() -> None:
    q = ShardQuorum(replicas=2, max_replicas=4, settle_disputes=False)
    q.place(2)
    q.record_vote(node(1), owner(1), H1)
    q.record_vote(node(2), owner(2), H2)
    decision = q.decide()
    assert decision.status is QuorumStatus.NEED_MORE and decision.replicas_to_add == 1
    q.place(decision.replicas_to_add)
    assert q.decide().status is QuorumStatus.PENDING
    q.record_vote(node(3), owner(3), H2)
    decision = q.decide()
    assert decision.status is QuorumStatus.ACCEPTED and decision.accepted_hash == H2
    assert decision.dissenting == (node(1),)


def test_escalation_cap_fails() -> None:
    q = ShardQuorum(replicas=2, max_replicas=3, settle_disputes=False)
    q.place(2)
    q.record_vote(node(1), owner(1), H1)
    q.record_vote(node(2), owner(2), H2)
    assert q.decide().replicas_to_add == 1
    q.place(1)
    q.record_vote(node(3), owner(3), H3)
    assert q.decide().status is QuorumStatus.FAILED


def test_two_nodes_of_one_owner_count_once() -> None:
    q = ShardQuorum(replicas=2, max_replicas=4)
    q.place(2)
    q.record_vote(node(1), owner(1), H1)
    q.record_vote(node(2), owner(1), H1)
    decision = q.decide()
    assert decision.status is QuorumStatus.NEED_MORE and decision.replicas_to_add == 1
    q.place(1)
    q.record_vote(node(3), owner(2), H1)
    assert q.decide().status is QuorumStatus.ACCEPTED


def test_losses_are_replaced_without_using_the_cap() -> None:
    q = ShardQuorum(replicas=2, max_replicas=2)
    q.place(2)
    q.record_vote(node(1), owner(1), H1)
    q.record_loss()
    decision = q.decide()
    assert decision.status is QuorumStatus.NEED_MORE and decision.replicas_to_add == 1
    q.place(1)
    q.record_vote(node(3), owner(3), H1)
    assert q.decide().status is QuorumStatus.ACCEPTED


def test_a_node_votes_once() -> None:
    q = ShardQuorum(replicas=2, max_replicas=2)
    q.place(2)
    q.record_vote(node(1), owner(1), H1)
    try:
        q.record_vote(node(1), owner(1), H2)
    except ValueError:
        pass
    else:
        raise AssertionError("second vote from one node was accepted")
    assert q.tally() == {H1: 1}


def test_unanimity_of_k_means_k_distinct_owners() -> None:
    for k in range(1, 6):
        q = ShardQuorum(replicas=k, max_replicas=k)
        q.place(k)
        for i in range(k - 1):
            q.record_vote(node(i), owner(i), H1)
        assert q.decide().status is QuorumStatus.PENDING
        q.record_vote(node(k), owner(k), H1)
        assert q.decide().status is QuorumStatus.ACCEPTED


def test_fails_at_once_when_the_cap_cannot_produce_agreement() -> None:
    # k=3, cap 4: three different answers leave one slot, but two more votes are needed.
    quorum = ShardQuorum(replicas=3, max_replicas=4, settle_disputes=False)
    quorum.place(3)
    for index, digest in enumerate((b"a" * 32, b"b" * 32, b"c" * 32)):
        quorum.record_vote(bytes([index]) * 32, bytes([index]) * 32, digest)
    assert quorum.decide().status is QuorumStatus.FAILED


def test_replicas_for_the_default_bound() -> None:
    from p2pfleet.core.verify import replicas_for_bound

    assert replicas_for_bound(0.1, 1e-6) == 6
    assert replicas_for_bound(0.01, 1e-6) == 3
    assert replicas_for_bound(0.2, 1e-6) == 9
    assert 0.1**6 <= 1e-6 + 1e-18


def test_an_injected_agreement_function_groups_close_outputs() -> None:
    def close(a: bytes, b: bytes) -> bool:  # a toy tolerant comparator: first byte within 1
        return abs(a[0] - b[0]) <= 1

    q = ShardQuorum(replicas=3, max_replicas=5, agree=close, settle_disputes=False)
    q.place(3)
    q.record_vote(node(1), owner(1), bytes([10]) * 4)
    q.record_vote(node(2), owner(2), bytes([11]) * 4)
    q.record_vote(node(3), owner(3), bytes([50]) * 4)
    decision = q.decide()
    assert decision.status is QuorumStatus.NEED_MORE and decision.replicas_to_add == 1
    q.place(1)
    q.record_vote(node(4), owner(4), bytes([9]) * 4)
    decision = q.decide()
    assert decision.status is QuorumStatus.ACCEPTED
    assert set(decision.agreeing) == {node(1), node(2), node(4)}
    assert decision.dissenting == (node(3),) and decision.disputed


def test_a_dispute_waits_for_every_vote_then_goes_to_the_submitter() -> None:
    q = ShardQuorum(replicas=3, max_replicas=9)
    q.place(3)
    q.record_vote(node(1), owner(1), H1)
    q.record_vote(node(2), owner(2), H2)
    assert q.decide().status is QuorumStatus.PENDING  # node 3 still computes: judge it too
    q.record_vote(node(3), owner(3), H1)
    decision = q.decide()
    assert decision.status is QuorumStatus.DISPUTED and decision.replicas_to_add == 0


def test_a_settled_dispute_never_accepts_a_late_majority() -> None:
    # Escalation would accept H2 here (3 of 5); settling leaves it to the submitter.
    q = ShardQuorum(replicas=3, max_replicas=5)
    q.place(5)
    for n, digest in enumerate((H1, H2, H2, H2, H1), start=1):
        q.record_vote(node(n), owner(n), digest)
    assert q.decide().status is QuorumStatus.DISPUTED


def test_a_lost_replica_in_a_dispute_is_not_waited_for() -> None:
    q = ShardQuorum(replicas=3, max_replicas=9)
    q.place(3)
    q.record_vote(node(1), owner(1), H1)
    q.record_vote(node(2), owner(2), H2)
    q.record_loss()
    assert q.decide().status is QuorumStatus.DISPUTED
