"""Owner policy: when this car may lend its compute. Pure decisions.

The owner sets limits; `refusal` says why work must be refused right now, or
None. Battery uses hysteresis: once below `min_battery_pct` the node stays
refusing until the battery is back above `min_battery_pct + hysteresis_pct`,
so it does not flap at the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

from p2pfleet.core.advert import VehicleState
from p2pfleet.core.task_messages import RejectReason


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnerPolicy:
    enabled: bool = True
    min_battery_pct: int = 30
    hysteresis_pct: int = 5
    only_when_plugged_in: bool = False
    daily_energy_budget_wh: int = 500
    max_concurrent_tasks: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.min_battery_pct <= 100 or not 0 <= self.hysteresis_pct <= 50:
            raise ValueError("min_battery_pct must be 0..100 and hysteresis_pct 0..50")
        if self.max_concurrent_tasks < 1 or self.daily_energy_budget_wh < 0:
            raise ValueError("max_concurrent_tasks >= 1 and daily_energy_budget_wh >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class VehicleFacts:
    state: VehicleState
    battery_pct: int
    plugged_in: bool
    energy_used_today_wh: float
    running_tasks: int


def battery_low(policy: OwnerPolicy, battery_pct: int, *, was_refusing_battery: bool) -> bool:
    """True while the battery is below the threshold, with hysteresis on the way back up."""
    threshold = policy.min_battery_pct + (policy.hysteresis_pct if was_refusing_battery else 0)
    return battery_pct < threshold


def refusal(
    policy: OwnerPolicy, facts: VehicleFacts, *, was_refusing_battery: bool
) -> RejectReason | None:
    """Why work must be refused now (None: may accept)."""
    if not policy.enabled:
        return RejectReason.POLICY_DISABLED
    if facts.state is VehicleState.DRIVING:
        return RejectReason.DRIVING
    if facts.state is VehicleState.OFFLINE:
        return RejectReason.POLICY_DISABLED
    if battery_low(policy, facts.battery_pct, was_refusing_battery=was_refusing_battery):
        return RejectReason.BATTERY_LOW
    if policy.only_when_plugged_in and not facts.plugged_in:
        return RejectReason.NOT_PLUGGED_IN
    if facts.energy_used_today_wh >= policy.daily_energy_budget_wh:
        return RejectReason.ENERGY_BUDGET
    if facts.running_tasks >= policy.max_concurrent_tasks:
        return RejectReason.BUSY
    return None
