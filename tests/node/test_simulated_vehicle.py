"""The simulated vehicle: schedule, battery model, departure prediction, change events."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from p2pfleet.core.advert import VehicleState
from p2pfleet.core.energy import BatteryModel, local_day_start, task_energy_wh
from p2pfleet.node.vehicle import ScheduleLeg, SimulatedVehicle, SimulatedVehicleConfig

PARK, DRIVE, CHARGE = VehicleState.PARKED, VehicleState.DRIVING, VehicleState.CHARGING
SCHEDULE = (
    ScheduleLeg(state=PARK, duration_s=600),
    ScheduleLeg(state=DRIVE, duration_s=300),
    ScheduleLeg(state=CHARGE, duration_s=900),
)


def test_schedule_legs_and_departure_prediction() -> None:
    vehicle = SimulatedVehicle(SimulatedVehicleConfig(schedule=SCHEDULE))
    assert vehicle.status.state is PARK
    assert vehicle.leg_at(0)[0].state is PARK
    assert vehicle.leg_at(650)[0].state is DRIVE
    assert vehicle.leg_at(1000)[0].state is CHARGE
    assert vehicle.leg_at(1800 + 10)[0].state is PARK  # the schedule repeats
    assert vehicle.predicted_departure_s(100) == pytest.approx(500)
    assert vehicle.predicted_departure_s(700) is None  # driving now
    assert vehicle.predicted_departure_s(1000) == pytest.approx(800 + 600)


def test_battery_model_drains_driving_charges_plugged_and_drains_by_compute() -> None:
    model = BatteryModel(capacity_kwh=50, drive_w=10_000, charge_w=7_000, standby_w=0)
    hour = 3600.0
    assert model.step(50, hour, driving=True, plugged_in=False, compute_w=0) == pytest.approx(30)
    assert model.step(50, hour, driving=False, plugged_in=True, compute_w=0) == pytest.approx(64)
    assert model.step(50, hour, driving=False, plugged_in=False, compute_w=500) == pytest.approx(49)
    assert model.step(99, hour, driving=False, plugged_in=True, compute_w=0) == 100
    assert model.step(1, hour, driving=True, plugged_in=False, compute_w=0) == 0


def test_energy_helpers() -> None:
    assert task_energy_wh(300, 60_000) == pytest.approx(5.0)
    assert local_day_start(86_400 * 10 + 3600, 0) == 86_400 * 10
    assert local_day_start(86_400 * 10 + 3600, 7200) == 86_400 * 10 - 7200


def test_running_schedule_emits_change_events_and_moves_the_battery() -> None:
    fast = BatteryModel(capacity_kwh=1, drive_w=36_000, charge_w=36_000, standby_w=0)
    config = SimulatedVehicleConfig(battery_pct=50, schedule=SCHEDULE, battery=fast, tick_s=10)
    vehicle = SimulatedVehicle(config)
    seen: list[tuple[VehicleState, int]] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(vehicle.run)
            while len(seen) < 3:
                status = await vehicle.wait_changed()
                if not seen or seen[-1][0] is not status.state:
                    seen.append((status.state, status.battery_pct))
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    # 300 s driving at 36 kW empties a 1 kWh pack; 900 s charging at 36 kW fills it.
    assert [state for state, _ in seen] == [DRIVE, CHARGE, PARK]
    assert seen[1][1] == 0 and seen[2][1] == 100


def test_compute_load_drains_a_parked_car() -> None:
    pack = BatteryModel(capacity_kwh=1, standby_w=0)
    vehicle = SimulatedVehicle(SimulatedVehicleConfig(battery_pct=80, battery=pack, tick_s=60))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(vehicle.run)
            vehicle.report_compute_watts(600)  # 10 Wh per minute: 1 % per minute
            with trio.fail_after(3600):
                while vehicle.status.battery_pct > 75:
                    await vehicle.wait_changed()
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert vehicle.status.battery_pct == 75
