"""Daily plans, the shared schedule functions (core.mobility), the clock and the day ledger."""

from __future__ import annotations

import random

import pytest

from p2pfleet.core.advert import VehicleState
from p2pfleet.core.mobility import ScheduleLeg, departure_in_s, leg_at
from p2pfleet.sim import SimConfig, Simulation
from p2pfleet.sim.clock import EventQueue
from p2pfleet.sim.schedules import DAY_S, daily_plan


def test_every_daily_plan_fills_one_day_and_drives() -> None:
    rng = random.Random(3)
    for _ in range(20_000):
        plan = daily_plan(rng)
        assert sum(leg.duration_s for leg in plan.legs) == pytest.approx(DAY_S)
        assert len(plan.at_home) == len(plan.legs)
        assert plan.at_home[0] and plan.legs[0].state is not VehicleState.DRIVING
        assert any(leg.state is VehicleState.DRIVING for leg in plan.legs)


def test_departure_is_the_start_of_the_next_drive() -> None:
    legs = (
        ScheduleLeg(state=VehicleState.CHARGING, duration_s=100),
        ScheduleLeg(state=VehicleState.PARKED, duration_s=50),
        ScheduleLeg(state=VehicleState.DRIVING, duration_s=10),
    )
    index, left = leg_at(legs, 120)
    assert index == 1 and left == pytest.approx(30)
    assert departure_in_s(legs, 20) == pytest.approx(130)
    assert departure_in_s(legs, 155) is None
    assert departure_in_s(legs, 160 + 20) == pytest.approx(130)  # it repeats
    assert departure_in_s(legs[:2], 0) is None  # never drives


def test_the_clock_runs_events_in_time_then_schedule_order() -> None:
    clock = EventQueue()
    seen: list[str] = []
    clock.at(5.0, seen.append, "b")
    clock.at(1.0, seen.append, "a")
    clock.at(5.0, seen.append, "c")
    clock.at(9.0, seen.append, "late")
    clock.run(until_s=6.0)
    assert seen == ["a", "b", "c"] and clock.now == 6.0
    clock.after(-3.0, seen.append, "never in the past")
    clock.run(until_s=100.0)
    assert seen[3:] == ["never in the past", "late"]


def test_energy_and_data_totals_restart_at_local_midnight() -> None:
    sim = Simulation(SimConfig(vehicles=40, shards=1, regions=3))
    east = next(v for v in sim.vehicles if v.region == "ap-northeast")  # UTC+9
    east.energy_today_wh = 99.0
    sim.clock.now = 14.5 * 3600  # 23:30 local on day 0
    sim.fleet.facts(east)
    assert east.energy_today_wh == 99.0
    sim.clock.now = 15.5 * 3600  # 00:30 local on day 1
    assert sim.fleet.facts(east).energy_used_today_wh == 0.0
