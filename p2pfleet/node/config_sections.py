"""Parsing of the `[vehicle]` and `[policy]` tables, one clear error per bad key.

Errors are collected, so `p2pfleet node --check-config` lists every problem at
once; each names the table, the key, what was found and what is expected.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from typing import Any

from p2pfleet.core.advert import VehicleState
from p2pfleet.core.energy import BatteryModel
from p2pfleet.core.policy import HourWindow, OwnerPolicy
from p2pfleet.node.vehicle import Link, ScheduleLeg, SimulatedVehicleConfig
from p2pfleet.node.vehicle_json import JsonVehicleConfig

VEHICLE_KEYS = {
    "adapter",
    "state",
    "battery_pct",
    "plugged_in",
    "parked_for_s",
    "link",
    "temperature_c",
    "schedule",
    "battery_kwh",
    "drive_w",
    "charge_w",
    "tick_s",
    "path",
}
POLICY_KEYS = {
    "enabled",
    "min_battery_pct",
    "hysteresis_pct",
    "only_when_plugged_in",
    "allowed_hours",
    "timezone",
    "daily_energy_budget_wh",
    "daily_cellular_data_mb",
    "cap_hysteresis_pct",
    "allowed_data_regions",
    "max_concurrent_tasks",
    "max_temperature_c",
    "thermal_hysteresis_c",
}


class SectionErrors:
    def __init__(self, table: str) -> None:
        self.table = table
        self.messages: list[str] = []

    def take(
        self, section: dict[str, Any], key: str, convert: Callable[[Any], Any], expected: str
    ) -> Any:
        """`convert(section[key])`, or None (and a recorded error) if it is invalid."""
        value = section[key]
        try:
            return convert(value)
        except (TypeError, ValueError, KeyError) as exc:
            detail = f" ({exc})" if str(exc) and not isinstance(exc, KeyError) else ""
            self.messages.append(f"{self.table} {key}: expected {expected}, got {value!r}{detail}")
            return None


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError()
    return value


def _int(low: int, high: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be an integer {low}..{high}")
        return value

    return convert


def _number(low: float, high: float) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError()
        if not low <= value <= high:
            raise ValueError(f"must be {low:g}..{high:g}")
        return float(value)

    return convert


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise TypeError()
    return tuple(value)


def _hours(value: Any) -> tuple[HourWindow, ...]:
    return tuple(HourWindow.parse(v) for v in _strings(value))


def _timezone(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError()
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone; use an IANA name such as 'Europe/Berlin'") from None
    return value


def _schedule(value: Any) -> tuple[ScheduleLeg, ...]:
    if not isinstance(value, list) or not value:
        raise TypeError()
    legs = []
    for leg in value:
        if not isinstance(leg, dict) or set(leg) != {"state", "duration_s"}:
            raise ValueError("each leg is { state = ..., duration_s = ... }")
        duration = _number(1, 7 * 86400)(leg["duration_s"])
        legs.append(ScheduleLeg(state=VehicleState(leg["state"]), duration_s=duration))
    return tuple(legs)


_POLICY_FIELDS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "enabled": (_bool, "true or false"),
    "min_battery_pct": (_int(0, 100), "a battery % 0..100"),
    "hysteresis_pct": (_int(0, 50), "a battery margin % 0..50"),
    "only_when_plugged_in": (_bool, "true or false"),
    "allowed_hours": (_hours, 'a list of local windows like ["22:00-06:30"]'),
    "timezone": (_timezone, "an IANA time zone name"),
    "daily_energy_budget_wh": (_int(0, 1_000_000), "Wh per day, an integer >= 0"),
    "daily_cellular_data_mb": (_int(0, 10_000_000), "MB per day, an integer >= 0"),
    "cap_hysteresis_pct": (_int(0, 90), "a % 0..90"),
    "allowed_data_regions": (_strings, 'a list of region names like ["eu-west"]'),
    "max_concurrent_tasks": (_int(1, 64), "an integer 1..64"),
    "max_temperature_c": (_number(-40, 150), "a temperature in °C"),
    "thermal_hysteresis_c": (_number(0, 50), "a margin in °C, 0..50"),
}


def parse_policy(section: dict[str, Any], errors: SectionErrors) -> OwnerPolicy | None:
    fields = {}
    for key, (convert, expected) in _POLICY_FIELDS.items():
        if key in section:
            fields[key] = errors.take(section, key, convert, expected)
    if errors.messages:
        return None
    try:
        return OwnerPolicy(**fields)
    except ValueError as exc:
        errors.messages.append(f"[policy]: {exc}")
        return None


_VEHICLE_FIELDS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "state": (VehicleState, "parked, charging, driving or offline"),
    "battery_pct": (_int(0, 100), "a battery % 0..100"),
    "plugged_in": (_bool, "true or false"),
    "parked_for_s": (_number(0, 1e9), "seconds until the car leaves"),
    "link": (Link, "wifi, cellular, ethernet or none"),
    "temperature_c": (_number(-60, 200), "a temperature in °C"),
    "schedule": (_schedule, "a list of { state = ..., duration_s = ... } legs"),
    "tick_s": (_number(0.01, 3600), "seconds between simulation steps"),
}
_BATTERY_FIELDS = {"battery_kwh": "capacity_kwh", "drive_w": "drive_w", "charge_w": "charge_w"}


def parse_vehicle(
    section: dict[str, Any], errors: SectionErrors
) -> SimulatedVehicleConfig | JsonVehicleConfig | None:
    adapter = section.get("adapter", "simulated")
    if adapter == "json":
        extra = sorted(set(section) - {"adapter", "path"})
        if extra:
            errors.messages.append(f"[vehicle] {', '.join(extra)}: not used by the json adapter")
        path = section.get("path", "-")
        if not isinstance(path, str) or not path:
            errors.messages.append("[vehicle] path: expected a file path or '-' for stdin")
            return None
        return JsonVehicleConfig(path=path)
    if adapter != "simulated":
        errors.messages.append(
            f"[vehicle] adapter: expected 'simulated' or 'json', got {adapter!r}"
        )
        return None
    if "path" in section:
        errors.messages.append("[vehicle] path: only the json adapter reads a file")
    fields = {}
    for key, (convert, expected) in _VEHICLE_FIELDS.items():
        if key in section:
            fields[key] = errors.take(section, key, convert, expected)
    battery = {}
    for key, name in _BATTERY_FIELDS.items():
        if key in section:
            battery[name] = errors.take(section, key, _number(0.001, 1e6), "a positive number")
    if errors.messages:
        return None
    try:
        if battery:
            fields["battery"] = BatteryModel(**battery)
        return SimulatedVehicleConfig(**fields)
    except ValueError as exc:
        errors.messages.append(f"[vehicle]: {exc}")
        return None


def describe_policy(policy: OwnerPolicy) -> list[str]:
    """The owner's policy in plain words (printed by `--check-config`)."""
    if not policy.enabled:
        return ["disabled: the node takes no work"]
    hours = ", ".join(str(w) for w in policy.allowed_hours) or "any time"
    cap = policy.daily_cellular_data_mb
    regions = ", ".join(policy.allowed_data_regions) or "any residency"
    lines = [
        f"hours: {hours} ({policy.timezone})",
        f"battery: refuse below {policy.min_battery_pct} %,"
        f" resume at {policy.min_battery_pct + policy.hysteresis_pct} %"
        + (", only while plugged in" if policy.only_when_plugged_in else ""),
        f"temperature: refuse at {policy.max_temperature_c:g} °C,"
        f" resume at {policy.max_temperature_c - policy.thermal_hysteresis_c:g} °C",
        f"energy: {policy.daily_energy_budget_wh} Wh per day",
        "cellular data: " + ("no cap" if cap is None else f"{cap} MB per day"),
        f"data regions: {regions}",
        f"worker slots: {policy.max_concurrent_tasks}",
    ]
    return lines
