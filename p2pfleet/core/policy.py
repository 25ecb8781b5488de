"""Owner policy: when this car may lend its compute. Pure decisions.

Theory of operation: the node gathers `VehicleFacts` (vehicle status, ledger
totals, local time of day) and calls `decide(policy, facts, memory)`. The
answer is the reason work must be refused now (or None) plus the new
`PolicyMemory`. The same decision drives the advert (free slots) and the
admission of an assignment, so a node never advertises what it would refuse.

Every threshold is a latch with hysteresis, so a node does not flap:

| latch        | starts refusing when              | stops refusing when                          |
|--------------|-----------------------------------|----------------------------------------------|
| battery      | battery < min_battery_pct         | battery >= min_battery_pct + hysteresis_pct  |
| thermal      | temperature >= max_temperature_c  | temperature <= max - thermal_hysteresis_c    |
| energy       | used today >= budget              | used today <= budget x (1 - cap_hysteresis)  |
| cellular data| cellular MB today >= cap          | cellular MB today <= cap x (1 - cap_hyst.)   |

Within a day the energy and data totals only grow, so those latches release at
the next local midnight (or when the owner raises the cap). Every latch is
updated on every decision, independently of which refusal wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from p2pfleet.core.advert import VehicleState
from p2pfleet.core.task_messages import RejectReason

MINUTES_PER_DAY = 24 * 60
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


@dataclass(frozen=True, slots=True)
class HourWindow:
    """Local time window [start, end) in minutes after midnight; may wrap midnight."""

    start_min: int
    end_min: int

    def __post_init__(self) -> None:
        for value in (self.start_min, self.end_min):
            if not 0 <= value <= MINUTES_PER_DAY:
                raise ValueError(f"hour window bound {value} is outside 0..1440 minutes")
        if self.start_min == self.end_min:
            raise ValueError("an hour window must not be empty (start equals end)")

    @classmethod
    def parse(cls, text: str) -> HourWindow:
        """'HH:MM-HH:MM' (24 h clock, end exclusive; '22:00-06:00' wraps midnight)."""
        match = _HOURS.match(text.strip())
        if match is None:
            raise ValueError(f"hour window {text!r} is not 'HH:MM-HH:MM', e.g. '22:00-06:30'")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 24 or h2 > 24 or m1 > 59 or m2 > 59:
            raise ValueError(f"hour window {text!r} has an hour above 24 or a minute above 59")
        return cls(h1 * 60 + m1, h2 * 60 + m2)

    def contains(self, minute_of_day: int) -> bool:
        if self.start_min < self.end_min:
            return self.start_min <= minute_of_day < self.end_min
        return minute_of_day >= self.start_min or minute_of_day < self.end_min

    def __str__(self) -> str:
        s, e = self.start_min, self.end_min
        return f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}"


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnerPolicy:
    enabled: bool = True
    min_battery_pct: int = 30
    hysteresis_pct: int = 5
    only_when_plugged_in: bool = False
    allowed_hours: tuple[HourWindow, ...] = ()  # empty: any time
    timezone: str = "UTC"  # IANA name; the node resolves it (core does no I/O)
    daily_energy_budget_wh: int = 500
    daily_cellular_data_mb: int | None = None  # None: no cap
    cap_hysteresis_pct: int = 10
    allowed_data_regions: tuple[str, ...] = ()  # empty: any residency
    max_concurrent_tasks: int = 1
    max_temperature_c: float = 70.0
    thermal_hysteresis_c: float = 5.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_battery_pct <= 100:
            raise ValueError("min_battery_pct must be 0..100")
        if not 0 <= self.hysteresis_pct <= 50:
            raise ValueError("hysteresis_pct must be 0..50")
        if not 0 <= self.cap_hysteresis_pct <= 90:
            raise ValueError("cap_hysteresis_pct must be 0..90")
        if self.max_concurrent_tasks < 1 or self.max_concurrent_tasks > 64:
            raise ValueError("max_concurrent_tasks must be 1..64")
        if self.daily_energy_budget_wh < 0:
            raise ValueError("daily_energy_budget_wh must be >= 0")
        if self.daily_cellular_data_mb is not None and self.daily_cellular_data_mb < 0:
            raise ValueError("daily_cellular_data_mb must be >= 0 (omit it for no cap)")
        if not -40.0 <= self.max_temperature_c <= 150.0:
            raise ValueError("max_temperature_c must be -40..150 °C")
        if not 0.0 <= self.thermal_hysteresis_c <= 50.0:
            raise ValueError("thermal_hysteresis_c must be 0..50 °C")
        if not all(isinstance(w, HourWindow) for w in self.allowed_hours):
            raise ValueError("allowed_hours must hold HourWindow values")
        if not all(isinstance(r, str) and r for r in self.allowed_data_regions):
            raise ValueError("allowed_data_regions must be non-empty region names")


@dataclass(frozen=True, slots=True, kw_only=True)
class VehicleFacts:
    state: VehicleState
    battery_pct: int
    plugged_in: bool
    energy_used_today_wh: float
    running_tasks: int
    temperature_c: float | None = None  # None: the vehicle does not report it
    on_cellular: bool = False
    cellular_bytes_today: int = 0
    local_minute: int = 12 * 60  # minutes after local midnight, in the policy's timezone


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyMemory:
    """Which latches are refusing; the only state the policy keeps between decisions."""

    battery_low: bool = False
    too_hot: bool = False
    energy_spent: bool = False
    data_spent: bool = False


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    reason: RejectReason | None  # None: work may be accepted
    memory: PolicyMemory

    @property
    def allowed(self) -> bool:
        return self.reason is None


def _latch(was: bool, *, enter: bool, stay: bool) -> bool:
    """A Schmitt trigger: whatever would start a refusal also keeps it (zero margins, zero caps)."""
    return (stay or enter) if was else enter


def update_memory(policy: OwnerPolicy, facts: VehicleFacts, memory: PolicyMemory) -> PolicyMemory:
    """Advance every hysteresis latch by one observation."""
    keep = 1 - policy.cap_hysteresis_pct / 100
    battery = facts.battery_pct
    low = _latch(
        memory.battery_low,
        enter=battery < policy.min_battery_pct,
        stay=battery < policy.min_battery_pct + policy.hysteresis_pct,
    )
    temp = facts.temperature_c
    hot = temp is not None and _latch(
        memory.too_hot,
        enter=temp >= policy.max_temperature_c,
        stay=temp > policy.max_temperature_c - policy.thermal_hysteresis_c,
    )
    budget = policy.daily_energy_budget_wh
    used = facts.energy_used_today_wh
    spent = _latch(memory.energy_spent, enter=used >= budget, stay=used > budget * keep)
    cap_mb = policy.daily_cellular_data_mb
    mb = facts.cellular_bytes_today / 1_000_000
    data = cap_mb is not None and _latch(
        memory.data_spent, enter=mb >= cap_mb, stay=mb > cap_mb * keep
    )
    return replace(memory, battery_low=low, too_hot=hot, energy_spent=spent, data_spent=data)


def within_hours(policy: OwnerPolicy, local_minute: int) -> bool:
    return not policy.allowed_hours or any(w.contains(local_minute) for w in policy.allowed_hours)


def decide(policy: OwnerPolicy, facts: VehicleFacts, memory: PolicyMemory) -> PolicyDecision:
    """Why work must be refused now (reason None: may accept), and the new latch state."""
    new = update_memory(policy, facts, memory)
    return PolicyDecision(_reason(policy, facts, new), new)


def _reason(policy: OwnerPolicy, facts: VehicleFacts, latched: PolicyMemory) -> RejectReason | None:
    if not policy.enabled or facts.state is VehicleState.OFFLINE:
        return RejectReason.POLICY_DISABLED
    if facts.state is VehicleState.DRIVING:
        return RejectReason.DRIVING
    if not within_hours(policy, facts.local_minute):
        return RejectReason.OUTSIDE_HOURS
    if latched.too_hot:
        return RejectReason.THERMAL
    if latched.battery_low:
        return RejectReason.BATTERY_LOW
    if policy.only_when_plugged_in and not facts.plugged_in:
        return RejectReason.NOT_PLUGGED_IN
    if latched.energy_spent:
        return RejectReason.ENERGY_BUDGET
    if latched.data_spent and facts.on_cellular:
        return RejectReason.DATA_CAP
    if facts.running_tasks >= policy.max_concurrent_tasks:
        return RejectReason.BUSY
    return None


_STOP_NOW = frozenset(
    {
        RejectReason.DRIVING,
        RejectReason.THERMAL,
        RejectReason.BATTERY_LOW,
        RejectReason.POLICY_DISABLED,
    }
)


def stops_running_work(reason: RejectReason) -> bool:
    """Must running shards be abandoned now, or only new work be refused?

    Driving, overheating, a battery under the owner's floor and a disabled
    policy stop work at once; hours, budgets and caps let a running shard finish.
    """
    return reason in _STOP_NOW


def cellular_allowance_bytes(policy: OwnerPolicy, cellular_bytes_today: int) -> int | None:
    """Cellular bytes the owner's cap still allows today (None: no cap)."""
    cap_mb = policy.daily_cellular_data_mb
    if cap_mb is None:
        return None
    return max(0, cap_mb * 1_000_000 - cellular_bytes_today)


def transfer_refusal(
    policy: OwnerPolicy, *, on_cellular: bool, cellular_bytes_today: int, transfer_bytes: int
) -> str | None:
    """Why moving `transfer_bytes` now would break the cellular data cap (None: it fits).

    Model downloads and uploads are checked whole before they start: a model
    that would not fit in what is left of today's allowance is not moved over
    cellular at all (on Wi-Fi or Ethernet anything goes).
    """
    left = cellular_allowance_bytes(policy, cellular_bytes_today)
    if not on_cellular or left is None or transfer_bytes <= left:
        return None
    return (
        f"{transfer_bytes / 1e6:.1f} MB over cellular would exceed the owner's daily cap"
        f" ({left / 1e6:.1f} MB of {policy.daily_cellular_data_mb} MB left today);"
        " it can move on Wi-Fi, or after local midnight"
    )


def residency_fits(policy: OwnerPolicy, manifest_regions: tuple[str, ...]) -> bool:
    """May this car hold the job's data? A manifest lists the regions its data may visit.

    With `allowed_data_regions` set, the owner takes only data whose residency
    is declared and lies wholly inside that list; an unrestricted manifest
    (no regions) is refused, because its data may come from anywhere.
    """
    if not policy.allowed_data_regions:
        return True
    allowed = set(policy.allowed_data_regions)
    return bool(manifest_regions) and set(manifest_regions) <= allowed
