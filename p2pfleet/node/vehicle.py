"""Vehicle adapters: where a node learns whether the car is parked, charging or driving.

An adapter exposes the latest `VehicleStatus`, wakes watchers on every change
(`wait_changed`) and may run a background task (`run`). `SimulatedVehicle`
follows a drive/park/charge schedule with a battery model (demo, tests,
simulator); `JsonVehicle` (vehicle_json.py) follows a real car's integration.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

import trio

from p2pfleet.core.advert import VehicleState
from p2pfleet.core.energy import BatteryModel
from p2pfleet.core.mobility import ScheduleLeg as ScheduleLeg  # re-exported for node config
from p2pfleet.core.mobility import departure_in_s, leg_at


class Link(StrEnum):
    """The vehicle's uplink: cellular traffic counts against the owner's data cap."""

    WIFI = "wifi"
    CELLULAR = "cellular"
    ETHERNET = "ethernet"
    NONE = "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class VehicleStatus:
    state: VehicleState
    battery_pct: int
    plugged_in: bool
    departure_ms: int | None  # predicted departure, unix ms
    link: Link = Link.WIFI
    temperature_c: float | None = None  # compute module / cabin temperature, if reported


class VehicleAdapter(Protocol):
    @property
    def status(self) -> VehicleStatus: ...

    async def wait_changed(self) -> VehicleStatus: ...

    def report_compute_watts(self, watts: float) -> None: ...

    def set_state(self, state: VehicleState) -> None:
        """Override the state now (operators, demos, tests); an adapter may replace it later."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Follow the vehicle until cancelled; `started()` once the first status is known."""
        ...


class StatusBroadcast:
    """Holds the latest status and wakes every watcher when it changes."""

    def __init__(self, status: VehicleStatus) -> None:
        self._status = status
        self._changed = trio.Event()

    @property
    def status(self) -> VehicleStatus:
        return self._status

    def update(self, status: VehicleStatus) -> bool:
        if status == self._status:
            return False
        self._status = status
        self._changed.set()
        self._changed = trio.Event()
        return True

    async def wait_changed(self) -> VehicleStatus:
        """Block until the next state change, then return the new status."""
        await self._changed.wait()
        return self._status


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedVehicleConfig:
    state: VehicleState = VehicleState.PARKED
    battery_pct: int = 80
    plugged_in: bool = False
    parked_for_s: float | None = 4 * 3600.0  # predicted time until departure (no schedule)
    link: Link = Link.WIFI
    temperature_c: float | None = 25.0
    schedule: tuple[ScheduleLeg, ...] = ()  # repeats; empty: stay in `state`
    battery: BatteryModel = field(default_factory=BatteryModel)
    tick_s: float = 1.0  # how often the battery model and schedule advance

    def __post_init__(self) -> None:
        if not 0 <= self.battery_pct <= 100:
            raise ValueError("battery_pct must be 0..100")
        if not self.tick_s > 0:
            raise ValueError("tick_s must be positive")


class SimulatedVehicle:
    """A vehicle driven by a schedule, or by `set_state` (demo, tests, simulator)."""

    def __init__(self, config: SimulatedVehicleConfig) -> None:
        self._config = config
        self._battery = float(config.battery_pct)
        self._compute_w = 0.0
        self._started = time.time()
        first = config.schedule[0].state if config.schedule else config.state
        plugged = config.plugged_in or first is VehicleState.CHARGING
        self._broadcast = StatusBroadcast(
            VehicleStatus(
                state=first,
                battery_pct=config.battery_pct,
                plugged_in=plugged,
                departure_ms=self._static_departure(),
                link=config.link,
                temperature_c=config.temperature_c,
            )
        )
        if config.schedule:
            self._apply_schedule(0.0)

    def _static_departure(self) -> int | None:
        parked_for = self._config.parked_for_s
        if parked_for is None or math.isinf(parked_for):
            return None
        return int((self._started + parked_for) * 1000)

    @property
    def status(self) -> VehicleStatus:
        return self._broadcast.status

    async def wait_changed(self) -> VehicleStatus:
        return await self._broadcast.wait_changed()

    def report_compute_watts(self, watts: float) -> None:
        self._compute_w = max(0.0, watts)

    def set_state(self, state: VehicleState) -> None:
        plugged = state is VehicleState.CHARGING
        self._broadcast.update(replace(self.status, state=state, plugged_in=plugged))

    def set_battery(self, battery_pct: int) -> None:
        self._battery = float(max(0, min(100, battery_pct)))
        self._broadcast.update(replace(self.status, battery_pct=round(self._battery)))

    def set_temperature(self, temperature_c: float | None) -> None:
        self._broadcast.update(replace(self.status, temperature_c=temperature_c))

    def set_link(self, link: Link) -> None:
        self._broadcast.update(replace(self.status, link=link))

    def leg_at(self, elapsed_s: float) -> tuple[ScheduleLeg, float]:
        """The schedule leg at `elapsed_s` since start, and the seconds left in it."""
        index, left = leg_at(self._config.schedule, elapsed_s)
        return self._config.schedule[index], left

    def predicted_departure_s(self, elapsed_s: float) -> float | None:
        """Seconds until the schedule next drives; None while driving or without driving."""
        return departure_in_s(self._config.schedule, elapsed_s)

    def _apply_schedule(self, elapsed_s: float) -> None:
        leg, _ = self.leg_at(elapsed_s)
        departs = self.predicted_departure_s(elapsed_s)
        departure_ms = None if departs is None else int((time.time() + departs) * 1000)
        current = self.status
        state_changed = leg.state is not current.state
        plugged = leg.state is VehicleState.CHARGING
        # Departure moves every tick; publish it only with a real change.
        self._broadcast.update(
            replace(
                current,
                state=leg.state,
                plugged_in=plugged,
                departure_ms=departure_ms if state_changed else current.departure_ms,
                battery_pct=round(self._battery),
            )
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Advance the battery model (and the schedule, if any) every `tick_s`."""
        task_status.started()
        config = self._config
        start = last = trio.current_time()
        while True:
            await trio.sleep(config.tick_s)
            now = trio.current_time()
            status = self.status
            self._battery = config.battery.step(
                self._battery,
                now - last,
                driving=status.state is VehicleState.DRIVING,
                plugged_in=status.plugged_in,
                compute_w=self._compute_w,
            )
            last = now
            if config.schedule:
                self._apply_schedule(now - start)
            else:
                self._broadcast.update(replace(status, battery_pct=round(self._battery)))
