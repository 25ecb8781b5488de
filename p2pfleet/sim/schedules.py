"""Daily drive/park/charge patterns for simulated vehicles (core.mobility legs).

Each vehicle repeats one local day: parked or charging at home overnight, a
commute, a working day parked (some at a workplace charger), the drive home,
and for some an evening errand. Stay-at-home vehicles make one midday trip.
Legs start at local midnight. `at_home[i]` says whether leg i is at home
(home Wi-Fi) or away (cellular, counted against the owner's data cap).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from p2pfleet.core.advert import VehicleState
from p2pfleet.core.mobility import ScheduleLeg

DAY_S = 86_400.0
HOUR = 3600.0
PARK, CHARGE, DRIVE = VehicleState.PARKED, VehicleState.CHARGING, VehicleState.DRIVING


@dataclass(frozen=True, slots=True)
class DailyPlan:
    legs: tuple[ScheduleLeg, ...]
    at_home: tuple[bool, ...]


def _clip(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def daily_plan(rng: random.Random) -> DailyPlan:
    """One vehicle's repeating day, drawn at random."""
    home = CHARGE if rng.random() < 0.7 else PARK  # 70% charge at home
    stops: list[tuple[VehicleState, float, bool]] = []  # (state, start time, at home)
    if rng.random() < 0.15:  # stays home: one midday trip
        out = _clip(rng.gauss(12 * HOUR, 2 * HOUR), 9 * HOUR, 16 * HOUR)
        trip = rng.uniform(0.25, 1.0) * HOUR
        stops += [(home, 0.0, True), (DRIVE, out, False), (PARK, out + trip, False)]
        back = out + trip + rng.uniform(0.5, 2.0) * HOUR
        stops += [(DRIVE, back, False), (home, back + trip, True)]
    else:  # commuter
        leave = _clip(rng.gauss(7.5 * HOUR, 1.0 * HOUR), 5 * HOUR, 10 * HOUR)
        commute = rng.uniform(0.3, 1.0) * HOUR
        work = CHARGE if home is PARK or rng.random() < 0.1 else PARK
        leave_work = leave + commute + rng.uniform(7.5, 9.5) * HOUR
        stops += [(home, 0.0, True), (DRIVE, leave, False), (work, leave + commute, False)]
        arrive = leave_work + commute
        stops += [(DRIVE, leave_work, False), (home, arrive, True)]
        if rng.random() < 0.4 and arrive + 4.5 * HOUR < DAY_S:  # evening errand (4 h at most)
            errand = arrive + rng.uniform(0.5, 2.0) * HOUR
            hop = rng.uniform(0.2, 0.5) * HOUR
            shop = errand + hop + rng.uniform(0.3, 1.0) * HOUR
            stops += [(DRIVE, errand, False), (PARK, errand + hop, False)]
            stops += [(DRIVE, shop, False), (home, shop + hop, True)]
    legs, flags = [], []
    for index, (state, start, at_home) in enumerate(stops):
        end = stops[index + 1][1] if index + 1 < len(stops) else DAY_S
        legs.append(ScheduleLeg(state=state, duration_s=end - start))
        flags.append(at_home)
    return DailyPlan(tuple(legs), tuple(flags))
