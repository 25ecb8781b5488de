"""Which nodes a shard may be placed on again after votes and losses."""

from __future__ import annotations

from p2pfleet.submit.coordinator import MAX_TRIES_PER_NODE, placement_exclusions
from p2pfleet.submit.replica import Replica, ReplicaOutcome
from tests.core.factories import signed_advert


def replica(node: int, outcome: ReplicaOutcome, owner: int | None = None) -> Replica:
    placed = Replica(signed_advert(node, owner))
    placed.outcome = outcome
    return placed


def test_voters_and_running_nodes_are_excluded_with_their_owners() -> None:
    voted = replica(1, ReplicaOutcome.COMMITTED)
    running = replica(2, ReplicaOutcome.RUNNING)
    nodes, owners = placement_exclusions([voted, running])
    assert nodes == {voted.node_key, running.node_key}
    assert owners == {voted.advert.advert.owner, running.advert.advert.owner}


def test_a_node_lost_once_may_try_again_and_frees_its_owner() -> None:
    for outcome in (ReplicaOutcome.FAILED, ReplicaOutcome.REJECTED, ReplicaOutcome.ABANDONED):
        nodes, owners = placement_exclusions([replica(3, outcome)])
        assert nodes == set() and owners == set(), outcome


def test_a_node_out_of_tries_is_excluded() -> None:
    tries = [replica(4, ReplicaOutcome.FAILED) for _ in range(MAX_TRIES_PER_NODE)]
    nodes, owners = placement_exclusions(tries)
    assert nodes == {tries[0].node_key} and owners == set()


def test_a_retry_that_votes_excludes_the_node() -> None:
    first, second = replica(5, ReplicaOutcome.FAILED), replica(5, ReplicaOutcome.COMMITTED)
    nodes, _ = placement_exclusions([first, second])
    assert nodes == {first.node_key}
