"""Adaptive replication: trust is earned, capped, lost when caught; canary counts."""

from __future__ import annotations

import random

import pytest

from p2pfleet.core.reputation import AdaptivePolicy, NodeStanding, escaped_checks_bound


def streak(n: int) -> NodeStanding:
    standing = NodeStanding()
    for _ in range(n):
        standing = standing.after_valid()
    return standing


def test_unproven_nodes_are_always_checked() -> None:
    policy = AdaptivePolicy(trust_after=10, trust_cap=20)
    for n in range(10):
        assert policy.check_probability(streak(n)) == 1.0
    assert not policy.is_trusted(streak(9)) and policy.is_trusted(streak(10))


def test_check_probability_falls_with_the_record_but_never_below_the_cap() -> None:
    policy = AdaptivePolicy(trust_after=10, trust_cap=20)
    assert policy.check_probability(streak(10)) == pytest.approx(1 / 10)
    assert policy.check_probability(streak(15)) == pytest.approx(1 / 15)
    assert policy.check_probability(streak(20)) == pytest.approx(1 / 20)
    assert policy.check_probability(streak(500)) == pytest.approx(1 / 20)
    assert escaped_checks_bound(policy) == 19


def test_a_caught_node_loses_its_streak_and_needs_a_longer_one() -> None:
    policy = AdaptivePolicy(trust_after=10, trust_cap=40)
    caught = streak(30).after_invalid(now_ms=123)
    assert caught.valid_streak == 0 and caught.invalid_total == 1
    assert caught.valid_total == 30 and caught.last_caught_ms == 123
    assert policy.required_streak(caught) == 20
    again = caught
    for _ in range(19):
        again = again.after_valid()
    assert not policy.is_trusted(again)
    assert policy.is_trusted(again.after_valid())


def test_should_check_follows_the_probability() -> None:
    policy = AdaptivePolicy(trust_after=10, trust_cap=20)
    rng = random.Random(7)
    trusted = streak(20)
    checks = sum(policy.should_check(trusted, rng) for _ in range(20_000))
    assert 800 < checks < 1200  # expected 1000 (1/20)
    assert all(policy.should_check(streak(3), rng) for _ in range(100))


def test_canary_count_and_validation() -> None:
    assert AdaptivePolicy(canary_rate=0.05).canary_count(100) == 5
    assert AdaptivePolicy(canary_rate=0.05).canary_count(3) == 1
    assert AdaptivePolicy(canary_rate=0.0).canary_count(100) == 0
    with pytest.raises(ValueError):
        AdaptivePolicy(trust_after=30, trust_cap=20)
    with pytest.raises(ValueError):
        AdaptivePolicy(canary_rate=1.5)
