"""Owner policy: refusals, and battery hysteresis so a node does not flap."""

from __future__ import annotations

from p2pfleet.core.advert import VehicleState
from p2pfleet.core.policy import OwnerPolicy, VehicleFacts, battery_low, refusal
from p2pfleet.core.task_messages import RejectReason

POLICY = OwnerPolicy(min_battery_pct=30, hysteresis_pct=5, daily_energy_budget_wh=100)


def facts(
    battery: int = 80, state: VehicleState = VehicleState.PARKED, **kw: object
) -> VehicleFacts:
    base: dict[str, object] = {"plugged_in": False, "energy_used_today_wh": 0.0, "running_tasks": 0}
    base.update(kw)
    return VehicleFacts(state=state, battery_pct=battery, **base)  # type: ignore[arg-type]


def walk(levels: list[int]) -> list[RejectReason | None]:
    refusing = False
    out = []
    for level in levels:
        reason = refusal(POLICY, facts(level), was_refusing_battery=refusing)
        refusing = reason is RejectReason.BATTERY_LOW
        out.append(reason)
    return out


def test_battery_hysteresis_holds_refusal_until_threshold_plus_margin() -> None:
    low = RejectReason.BATTERY_LOW
    assert walk([31, 29, 31, 34, 35, 31]) == [None, low, low, low, None, None]


def test_no_flapping_around_the_threshold() -> None:
    decisions = walk([30, 29, 30, 29, 30, 31, 32, 33, 34])
    assert decisions[0] is None
    assert all(d is RejectReason.BATTERY_LOW for d in decisions[1:])


def test_driving_disabled_budget_busy_and_plug_rules() -> None:
    assert (
        refusal(POLICY, facts(state=VehicleState.DRIVING), was_refusing_battery=False)
        is RejectReason.DRIVING
    )
    off = OwnerPolicy(enabled=False)
    assert refusal(off, facts(), was_refusing_battery=False) is RejectReason.POLICY_DISABLED
    spent = facts(energy_used_today_wh=100.0)
    assert refusal(POLICY, spent, was_refusing_battery=False) is RejectReason.ENERGY_BUDGET
    assert refusal(POLICY, facts(running_tasks=1), was_refusing_battery=False) is RejectReason.BUSY
    plugged_only = OwnerPolicy(only_when_plugged_in=True)
    assert refusal(plugged_only, facts(), was_refusing_battery=False) is RejectReason.NOT_PLUGGED_IN
    charging = facts(state=VehicleState.CHARGING, plugged_in=True)
    assert refusal(plugged_only, charging, was_refusing_battery=False) is None


def test_battery_memory_survives_a_drive() -> None:
    # Low battery, then driving (a different refusal wins), then parked at 33 %: still below 35 %.
    assert battery_low(POLICY, 29, was_refusing_battery=False)
    assert battery_low(POLICY, 33, was_refusing_battery=True)
    assert not battery_low(POLICY, 35, was_refusing_battery=True)
    assert not battery_low(POLICY, 33, was_refusing_battery=False)
