"""Small simulated fleets: big enough to exercise every path, small enough to run in seconds."""

from __future__ import annotations

from dataclasses import replace

import pytest

from p2pfleet.sim import SimConfig

SMALL = SimConfig(vehicles=600, shards=300, shards_per_job=50, arrival_hours=6.0, seed=7)


@pytest.fixture
def small() -> SimConfig:
    return SMALL


def small_config(**changes: object) -> SimConfig:
    return replace(SMALL, **changes)  # type: ignore[arg-type]
