"""Vehicle adapters: where a node learns whether the car is parked, charging or driving.

`SimulatedVehicle` is used by the demo and the tests; state changes are
delivered as events to every watcher.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import trio

from p2pfleet.core.advert import VehicleState


@dataclass(frozen=True, slots=True, kw_only=True)
class VehicleStatus:
    state: VehicleState
    battery_pct: int
    plugged_in: bool
    departure_ms: int | None  # predicted departure, unix ms


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedVehicleConfig:
    state: VehicleState = VehicleState.PARKED
    battery_pct: int = 80
    plugged_in: bool = False
    parked_for_s: float | None = 4 * 3600.0  # predicted time until departure


class SimulatedVehicle:
    """A vehicle whose state changes when told to (demo, tests, simulator)."""

    def __init__(self, config: SimulatedVehicleConfig) -> None:
        departure = (
            None
            if config.parked_for_s is None or math.isinf(config.parked_for_s)
            else int((time.time() + config.parked_for_s) * 1000)
        )
        self._status = VehicleStatus(
            state=config.state,
            battery_pct=config.battery_pct,
            plugged_in=config.plugged_in,
            departure_ms=departure,
        )
        self._changed = trio.Event()

    @property
    def status(self) -> VehicleStatus:
        return self._status

    def set_state(self, state: VehicleState) -> None:
        plugged = state is VehicleState.CHARGING
        self._update(replace(self._status, state=state, plugged_in=plugged))

    def set_battery(self, battery_pct: int) -> None:
        self._update(replace(self._status, battery_pct=max(0, min(100, battery_pct))))

    def _update(self, status: VehicleStatus) -> None:
        if status != self._status:
            self._status = status
            self._changed.set()
            self._changed = trio.Event()

    async def wait_changed(self) -> VehicleStatus:
        """Block until the next state change, then return the new status."""
        await self._changed.wait()
        return self._status
