"""Drive/park/charge schedules: where a vehicle is at a given time. Pure functions.

A schedule is a tuple of legs that repeats. The simulated vehicle adapter
(node/vehicle.py) and the fleet simulator (p2pfleet/sim) both read a vehicle's
state and its predicted departure from here, so they agree on the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from p2pfleet.core.advert import VehicleState


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleLeg:
    state: VehicleState
    duration_s: float

    def __post_init__(self) -> None:
        if not self.duration_s > 0:
            raise ValueError("a schedule leg needs duration_s > 0")


def leg_at(legs: Sequence[ScheduleLeg], elapsed_s: float) -> tuple[int, float]:
    """Index of the leg at `elapsed_s` into the repeating schedule, and the seconds left in it."""
    if not legs:
        raise ValueError("a schedule needs at least one leg")
    period = sum(leg.duration_s for leg in legs)
    offset = elapsed_s % period
    for index, leg in enumerate(legs):
        if offset < leg.duration_s:
            return index, leg.duration_s - offset
        offset -= leg.duration_s
    return len(legs) - 1, 0.0  # unreachable except by float rounding


def departure_in_s(legs: Sequence[ScheduleLeg], elapsed_s: float) -> float | None:
    """Seconds until the schedule next drives; None while driving or if it never drives."""
    index, left = leg_at(legs, elapsed_s)
    if legs[index].state is VehicleState.DRIVING or not any(
        leg.state is VehicleState.DRIVING for leg in legs
    ):
        return None
    waited = left
    for step in range(1, len(legs) + 1):
        nxt = legs[(index + step) % len(legs)]
        if nxt.state is VehicleState.DRIVING:
            return waited
        waited += nxt.duration_s
    return None
