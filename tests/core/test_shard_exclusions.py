"""Which nodes a shard may be placed on again after votes and losses (live and simulated)."""

from __future__ import annotations

from p2pfleet.core.scheduler import MAX_TRIES_PER_NODE, shard_exclusions
from p2pfleet.submit.coordinator import LOST_OUTCOMES
from p2pfleet.submit.replica import ReplicaOutcome


def node(n: int) -> bytes:
    return bytes([n]) * 32


def owner(n: int) -> bytes:
    return bytes([100 + n]) * 32


def test_voters_and_running_nodes_are_excluded_with_their_owners() -> None:
    nodes, owners = shard_exclusions([(node(1), owner(1), False), (node(2), owner(2), False)])
    assert nodes == {node(1), node(2)}
    assert owners == {owner(1), owner(2)}


def test_a_node_lost_once_may_try_again_and_frees_its_owner() -> None:
    nodes, owners = shard_exclusions([(node(3), owner(3), True)])
    assert nodes == set() and owners == set()


def test_a_node_out_of_tries_is_excluded() -> None:
    nodes, owners = shard_exclusions([(node(4), owner(4), True)] * MAX_TRIES_PER_NODE)
    assert nodes == {node(4)} and owners == set()


def test_a_retry_that_votes_excludes_the_node() -> None:
    nodes, _ = shard_exclusions([(node(5), owner(5), True), (node(5), owner(5), False)])
    assert nodes == {node(5)}


def test_the_live_submitter_counts_rejects_abandons_and_failures_as_losses() -> None:
    assert {ReplicaOutcome.FAILED, ReplicaOutcome.REJECTED, ReplicaOutcome.ABANDONED} == set(
        LOST_OUTCOMES
    )
