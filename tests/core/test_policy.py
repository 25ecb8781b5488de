"""Owner policy: each refusal, hysteresis on every threshold, midnight-wrapping hours."""

from __future__ import annotations

from dataclasses import replace

import pytest

from p2pfleet.core.advert import VehicleState
from p2pfleet.core.policy import (
    HourWindow,
    OwnerPolicy,
    PolicyMemory,
    VehicleFacts,
    decide,
    residency_fits,
)
from p2pfleet.core.task_messages import RejectReason

POLICY = OwnerPolicy(
    min_battery_pct=30,
    hysteresis_pct=5,
    daily_energy_budget_wh=100,
    daily_cellular_data_mb=50,
    cap_hysteresis_pct=10,
    max_temperature_c=60.0,
    thermal_hysteresis_c=5.0,
)
BASE = VehicleFacts(
    state=VehicleState.PARKED,
    battery_pct=80,
    plugged_in=False,
    energy_used_today_wh=0.0,
    running_tasks=0,
    temperature_c=25.0,
)


def walk(policy: OwnerPolicy, series: list[VehicleFacts]) -> list[RejectReason | None]:
    memory = PolicyMemory()
    reasons = []
    for facts in series:
        decision = decide(policy, facts, memory)
        memory = decision.memory
        reasons.append(decision.reason)
    return reasons


def test_battery_hysteresis_holds_refusal_until_threshold_plus_margin() -> None:
    low = RejectReason.BATTERY_LOW
    series = [replace(BASE, battery_pct=b) for b in [31, 29, 31, 34, 35, 31]]
    assert walk(POLICY, series) == [None, low, low, low, None, None]


def test_battery_does_not_flap_around_the_threshold() -> None:
    series = [replace(BASE, battery_pct=b) for b in [30, 29, 30, 29, 30, 31, 32, 33, 34]]
    decisions = walk(POLICY, series)
    assert decisions[0] is None
    assert all(d is RejectReason.BATTERY_LOW for d in decisions[1:])


def test_thermal_hysteresis() -> None:
    hot = RejectReason.THERMAL
    temps = [59.0, 60.0, 58.0, 55.5, 55.0, 59.9, 60.0]
    series = [replace(BASE, temperature_c=t) for t in temps]
    assert walk(POLICY, series) == [None, hot, hot, hot, None, None, hot]


def test_unreported_temperature_never_refuses() -> None:
    assert walk(POLICY, [replace(BASE, temperature_c=None)]) == [None]


def test_energy_budget_latches_until_below_the_margin() -> None:
    spent = RejectReason.ENERGY_BUDGET
    used = [99.0, 100.0, 95.0, 90.5, 90.0, 99.0]
    series = [replace(BASE, energy_used_today_wh=u) for u in used]
    # Below 100 % again (e.g. the owner raised the budget or a new day began)
    # is not enough: usage must fall to 90 % (cap_hysteresis_pct 10) first.
    assert walk(POLICY, series) == [None, spent, spent, spent, None, None]


def test_cellular_data_cap_only_bites_on_cellular_with_hysteresis() -> None:
    cap = RejectReason.DATA_CAP
    cell = replace(BASE, on_cellular=True)
    mb = 1_000_000
    series = [
        replace(cell, cellular_bytes_today=49 * mb),
        replace(cell, cellular_bytes_today=50 * mb),
        replace(BASE, on_cellular=False, cellular_bytes_today=50 * mb),  # wifi: fine
        replace(cell, cellular_bytes_today=46 * mb),  # still latched
        replace(cell, cellular_bytes_today=45 * mb),  # released at 90 %
    ]
    assert walk(POLICY, series) == [None, cap, None, cap, None]


def test_no_data_cap_configured_means_no_refusal() -> None:
    policy = replace(POLICY, daily_cellular_data_mb=None)
    facts = replace(BASE, on_cellular=True, cellular_bytes_today=10**12)
    assert walk(policy, [facts]) == [None]


@pytest.mark.parametrize(
    ("window", "inside", "outside"),
    [
        ("22:00-06:00", [22 * 60, 23 * 60 + 59, 0, 5 * 60 + 59], [6 * 60, 12 * 60, 21 * 60 + 59]),
        ("09:30-17:00", [9 * 60 + 30, 16 * 60 + 59], [9 * 60 + 29, 17 * 60, 0]),
        ("00:00-24:00", [0, 12 * 60, 23 * 60 + 59], []),
    ],
)
def test_allowed_hours_windows_including_midnight_wrap(
    window: str, inside: list[int], outside: list[int]
) -> None:
    policy = replace(POLICY, allowed_hours=(HourWindow.parse(window),))
    for minute in inside:
        assert walk(policy, [replace(BASE, local_minute=minute)]) == [None], (window, minute)
    for minute in outside:
        reasons = walk(policy, [replace(BASE, local_minute=minute)])
        assert reasons == [RejectReason.OUTSIDE_HOURS], (window, minute)


def test_several_hour_windows() -> None:
    windows = (HourWindow.parse("01:00-05:00"), HourWindow.parse("12:00-13:00"))
    policy = replace(POLICY, allowed_hours=windows)
    assert walk(policy, [replace(BASE, local_minute=12 * 60 + 30)]) == [None]
    assert walk(policy, [replace(BASE, local_minute=6 * 60)]) == [RejectReason.OUTSIDE_HOURS]


@pytest.mark.parametrize("text", ["22-06", "25:00-01:00", "10:61-11:00", "08:00-08:00", ""])
def test_bad_hour_windows_are_refused_with_the_format(text: str) -> None:
    with pytest.raises(ValueError, match="hour window"):
        HourWindow.parse(text)


def test_driving_disabled_offline_plug_and_busy_rules() -> None:
    assert walk(POLICY, [replace(BASE, state=VehicleState.DRIVING)]) == [RejectReason.DRIVING]
    off = replace(POLICY, enabled=False)
    assert walk(off, [BASE]) == [RejectReason.POLICY_DISABLED]
    offline = replace(BASE, state=VehicleState.OFFLINE)
    assert walk(POLICY, [offline]) == [RejectReason.POLICY_DISABLED]
    plugged_only = replace(POLICY, only_when_plugged_in=True)
    assert walk(plugged_only, [BASE]) == [RejectReason.NOT_PLUGGED_IN]
    assert walk(plugged_only, [replace(BASE, plugged_in=True)]) == [None]
    assert walk(POLICY, [replace(BASE, running_tasks=1)]) == [RejectReason.BUSY]


def test_latches_update_even_when_another_refusal_wins() -> None:
    # Battery dips while driving: after parking at 32 % the node must still refuse.
    series = [
        replace(BASE, state=VehicleState.DRIVING, battery_pct=25),
        replace(BASE, battery_pct=32),
    ]
    assert walk(POLICY, series) == [RejectReason.DRIVING, RejectReason.BATTERY_LOW]


def test_residency() -> None:
    anywhere = POLICY
    eu_only = replace(POLICY, allowed_data_regions=("eu-west", "eu-central"))
    assert residency_fits(anywhere, ())
    assert residency_fits(anywhere, ("us-east",))
    assert residency_fits(eu_only, ("eu-west",))
    assert residency_fits(eu_only, ("eu-west", "eu-central"))
    assert not residency_fits(eu_only, ("eu-west", "us-east"))
    assert not residency_fits(eu_only, ())  # unrestricted data may come from anywhere


@pytest.mark.parametrize(
    "changes",
    [
        {"min_battery_pct": 101},
        {"hysteresis_pct": 60},
        {"max_concurrent_tasks": 0},
        {"daily_energy_budget_wh": -1},
        {"daily_cellular_data_mb": -5},
        {"max_temperature_c": 500.0},
        {"allowed_data_regions": ("",)},
    ],
)
def test_invalid_policies_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        OwnerPolicy(**changes)  # type: ignore[arg-type]


def test_which_refusals_stop_running_work() -> None:
    from p2pfleet.core.policy import stops_running_work

    stop = {r for r in RejectReason if stops_running_work(r)}
    assert stop == {
        RejectReason.DRIVING,
        RejectReason.THERMAL,
        RejectReason.BATTERY_LOW,
        RejectReason.POLICY_DISABLED,
    }


@pytest.mark.parametrize(
    ("changes", "facts_changes", "expected"),
    [
        ({"daily_cellular_data_mb": 0}, {"on_cellular": True}, RejectReason.DATA_CAP),
        ({"daily_energy_budget_wh": 0}, {}, RejectReason.ENERGY_BUDGET),
        ({"thermal_hysteresis_c": 0.0}, {"temperature_c": 60.0}, RejectReason.THERMAL),
        (
            {"cap_hysteresis_pct": 0, "daily_energy_budget_wh": 10},
            {"energy_used_today_wh": 10.0},
            RejectReason.ENERGY_BUDGET,
        ),
    ],
)
def test_a_latch_never_releases_while_its_own_trigger_holds(
    changes: dict[str, object], facts_changes: dict[str, object], expected: RejectReason
) -> None:
    # Zero caps and zero margins: the refusal must hold on every repeated decision.
    policy = replace(POLICY, **changes)  # type: ignore[arg-type]
    facts = replace(BASE, **facts_changes)  # type: ignore[arg-type]
    assert walk(policy, [facts] * 5) == [expected] * 5
