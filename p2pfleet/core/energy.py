"""Energy accounting and a simple battery model. Pure functions.

Task energy is estimated as compute tier power x runtime (the onboard AI
computer runs at its sustained power while a shard executes). The battery
model is what the simulated vehicle uses: drain while driving, charge while
plugged in, drain by compute and a small standby load.
"""

from __future__ import annotations

from dataclasses import dataclass

MS_PER_HOUR = 3_600_000
SECONDS_PER_DAY = 86_400


def task_energy_wh(tier_watts: float, runtime_ms: int) -> float:
    """Energy a task used: tier watts x runtime."""
    return tier_watts * max(0, runtime_ms) / MS_PER_HOUR


def local_day_start(now_s: float, utc_offset_s: float) -> float:
    """Unix time of the most recent local midnight for a zone at `utc_offset_s`."""
    local = now_s + utc_offset_s
    return now_s - (local % SECONDS_PER_DAY)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatteryModel:
    capacity_kwh: float = 60.0
    drive_w: float = 12_000.0  # average traction power while driving
    charge_w: float = 7_400.0  # a typical home wallbox
    standby_w: float = 30.0  # vehicle electronics while parked and awake

    def __post_init__(self) -> None:
        if self.capacity_kwh <= 0:
            raise ValueError("battery capacity_kwh must be positive")
        if min(self.drive_w, self.charge_w, self.standby_w) < 0:
            raise ValueError("battery powers must be non-negative")

    def step(
        self,
        battery_pct: float,
        dt_s: float,
        *,
        driving: bool,
        plugged_in: bool,
        compute_w: float,
    ) -> float:
        """Battery % after `dt_s` seconds, clamped to 0..100."""
        load_w = self.standby_w + compute_w + (self.drive_w if driving else 0.0)
        net_w = (self.charge_w if plugged_in and not driving else 0.0) - load_w
        delta_pct = net_w * dt_s / 3600 / (self.capacity_kwh * 1000) * 100
        return min(100.0, max(0.0, battery_pct + delta_pct))
