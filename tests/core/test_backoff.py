"""The pure retry schedule used by the reconnector."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2pfleet.core.backoff import Backoff


def test_grows_exponentially_then_stays_at_the_cap() -> None:
    plain = Backoff(initial=0.5, factor=2.0, cap=5.0, jitter=0.0)
    assert plain.schedule(6, random.Random(1)) == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert plain.delay(10_000, random.Random(1)) == 5.0


@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=2**32))
def test_jitter_stays_within_its_band_and_under_the_cap(attempt: int, seed: int) -> None:
    policy = Backoff(initial=0.2, factor=3.0, cap=10.0, jitter=0.25)
    base = min(10.0, 0.2 * 3.0**attempt) if attempt < 10 else 10.0
    delay = policy.delay(attempt, random.Random(seed))
    assert base * 0.75 <= delay <= min(10.0, base * 1.25)


def test_jitter_spreads_a_fleet() -> None:
    policy = Backoff(initial=1.0, jitter=0.5)
    delays = {round(policy.delay(3, random.Random(seed)), 6) for seed in range(50)}
    assert len(delays) > 40


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": 0}, {"initial": 5, "cap": 1}, {"factor": 0.5}, {"jitter": 1.0}, {"jitter": -0.1}],
)
def test_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_negative_attempt_is_a_bug() -> None:
    with pytest.raises(ValueError):
        Backoff().delay(-1, random.Random(0))
