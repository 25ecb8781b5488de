"""Vehicle dynamics: schedule legs, unplanned trips (churn), battery, owner policy, adverts.

Each vehicle follows its daily plan (core.mobility), advances its battery
with core.energy.BatteryModel, and decides with core.policy.decide — the
functions the node daemon calls — whether it offers work (its advert's free
slots) and whether it admits an assignment. When it starts to drive, its
running shards are abandoned at once (`on_leave`), as a live node does.
Adverts are re-issued when they expire (the daemon's heartbeat), so the
submitter never sees a stale one; a vehicle's facts may still have moved on
between its advert and an assignment, and then the owner policy refuses.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable

from p2pfleet.core.advert import Advert, SignedAdvert, VehicleState
from p2pfleet.core.energy import SECONDS_PER_DAY, local_day_start
from p2pfleet.core.mobility import departure_in_s, leg_at
from p2pfleet.core.policy import VehicleFacts, decide, residency_fits
from p2pfleet.core.task_messages import RejectReason
from p2pfleet.sim.clock import EventQueue
from p2pfleet.sim.fleet import Pool, SimVehicle

ADVERT_TTL_MS = 30_000  # the node daemon's default advert_ttl_s
RECHECK_S = 1800.0  # a parked vehicle held back by its owner's policy looks again this often
TRIP_S = (900.0, 2700.0)  # an unplanned trip lasts this long
LEG_EPSILON_S = 1e-3  # step past a leg boundary so float rounding never repeats a leg
MODEL = b"\x5a" * 32  # the one model every simulated job runs
_WORKING = (VehicleState.PARKED, VehicleState.CHARGING)
_NO_RECHECK = (RejectReason.DRIVING, RejectReason.BUSY, RejectReason.POLICY_DISABLED)


class FleetDynamics:
    def __init__(
        self,
        clock: EventQueue,
        vehicles: list[SimVehicle],
        regions: tuple[str, ...],
        rng: random.Random,
        *,
        churn: float,
    ) -> None:
        self.clock = clock
        self.vehicles = vehicles
        self.rng = rng
        self.churn = churn
        self.everywhere = Pool()
        self.by_region = {region: Pool() for region in regions}
        self.on_leave: Callable[[SimVehicle], None] = lambda vehicle: None
        self.refusals: Counter[str] = Counter()  # assignments refused by the owner policy
        self.withheld_s: defaultdict[str, float] = defaultdict(
            float
        )  # parked seconds the owner policy held back
        self.unplanned_trips = 0

    def start(self) -> None:
        for vehicle in self.vehicles:
            self.clock.at(0.0, self._on_leg, vehicle)

    # -- schedule and churn ------------------------------------------------------------

    def _local_s(self, vehicle: SimVehicle) -> float:
        return self.clock.now + vehicle.utc_offset_s

    def _on_leg(self, vehicle: SimVehicle) -> None:
        self.refresh(vehicle)
        _, left = leg_at(vehicle.plan.legs, self._local_s(vehicle))
        self.clock.after(left + LEG_EPSILON_S, self._on_leg, vehicle)
        if vehicle.state in _WORKING and self.rng.random() < self.churn:
            self.clock.after(self.rng.uniform(0.0, left), self._unplanned_trip, vehicle)

    def _unplanned_trip(self, vehicle: SimVehicle) -> None:
        if vehicle.state not in _WORKING:
            return
        self.unplanned_trips += 1
        vehicle.unplanned_until_s = self.clock.now + self.rng.uniform(*TRIP_S)
        self.refresh(vehicle)
        self.clock.at(vehicle.unplanned_until_s, self.refresh, vehicle)

    def advance_battery(self, vehicle: SimVehicle) -> None:
        now = self.clock.now
        vehicle.battery_pct = vehicle.battery_model.step(
            vehicle.battery_pct,
            now - vehicle.battery_at_s,
            driving=vehicle.state is VehicleState.DRIVING,
            plugged_in=vehicle.plugged_in,
            compute_w=float(vehicle.tier_watts) if vehicle.running else 0.0,
        )
        vehicle.battery_at_s = now

    def refresh(self, vehicle: SimVehicle) -> None:
        """Bring the vehicle to `now`: battery, schedule leg, state; then re-advertise."""
        self.advance_battery(vehicle)
        local = self._local_s(vehicle)
        vehicle.leg, _ = leg_at(vehicle.plan.legs, local)
        state = vehicle.plan.legs[vehicle.leg].state
        if self.clock.now < vehicle.unplanned_until_s:
            state = VehicleState.DRIVING
        leaving = state is VehicleState.DRIVING and vehicle.state is not VehicleState.DRIVING
        vehicle.state = state
        if leaving and vehicle.running:
            self.on_leave(vehicle)  # driving wins: running work is abandoned now
        departs = (
            None if state is VehicleState.DRIVING else departure_in_s(vehicle.plan.legs, local)
        )
        vehicle.departure_s = None if departs is None else self.clock.now + departs
        self.publish(vehicle)

    # -- owner policy and adverts ------------------------------------------------------

    def _roll_day(self, vehicle: SimVehicle) -> None:
        """At local midnight the ledger's daily energy and data totals start again."""
        now = self.clock.now
        if now >= vehicle.day_start_s + SECONDS_PER_DAY:
            vehicle.day_start_s = local_day_start(now, vehicle.utc_offset_s)
            vehicle.energy_today_wh, vehicle.cellular_today_b = 0.0, 0

    def facts(self, vehicle: SimVehicle) -> VehicleFacts:
        """What the node daemon tells core.policy.decide about its car right now."""
        self._roll_day(vehicle)
        return VehicleFacts(
            state=vehicle.state,
            battery_pct=round(vehicle.battery_pct),
            plugged_in=vehicle.plugged_in,
            energy_used_today_wh=vehicle.energy_today_wh,
            running_tasks=len(vehicle.running),
            on_cellular=not vehicle.at_home,
            cellular_bytes_today=vehicle.cellular_today_b,
            local_minute=int(self._local_s(vehicle) % SECONDS_PER_DAY) // 60,
        )

    def publish(self, vehicle: SimVehicle) -> None:
        """Decide (core.policy) whether to offer work, and re-issue the advert.

        The daemon re-advertises on a state change, a freed slot and its
        heartbeat; taking an assignment does not re-advertise, so for up to a
        TTL the submitter may still see slots the node no longer has.
        """
        now = self.clock.now
        held = vehicle.refusing
        if held is not None and held not in _NO_RECHECK:
            self.withheld_s[held.value] += now - vehicle.refusing_since_s
        decision = decide(vehicle.policy, self.facts(vehicle), vehicle.memory)
        vehicle.memory, vehicle.refusing = decision.memory, decision.reason
        vehicle.refusing_since_s = now
        vehicle.advert = None
        home = self.by_region[vehicle.region]
        if decision.reason is None:
            self.everywhere.add(vehicle)
            home.add(vehicle)
            return
        self.everywhere.discard(vehicle)
        home.discard(vehicle)
        if decision.reason in _NO_RECHECK or vehicle.state not in _WORKING:
            return
        if not vehicle.recheck_pending:  # hours open, latches release: look again later
            vehicle.recheck_pending = True
            self.clock.after(RECHECK_S, self._recheck, vehicle)

    def _recheck(self, vehicle: SimVehicle) -> None:
        vehicle.recheck_pending = False
        if vehicle.state in _WORKING:
            self.advance_battery(vehicle)
            self.publish(vehicle)

    def advert(self, vehicle: SimVehicle) -> SignedAdvert:
        """The vehicle's current advert, as the submitter's gossip view holds it."""
        now_ms = int(self.clock.now * 1000)
        if vehicle.advert is not None and vehicle.advert.advert.expires_at_ms > now_ms:
            return vehicle.advert
        self.advance_battery(vehicle)
        self.publish(vehicle)  # the heartbeat: fresh facts, fresh advert
        policy = vehicle.policy
        free = policy.max_concurrent_tasks - len(vehicle.running)
        vehicle.seq += 1
        advert = Advert(
            owner=vehicle.owner,
            seq=vehicle.seq,
            issued_at_ms=now_ms,
            ttl_ms=ADVERT_TTL_MS,
            state=vehicle.state,
            battery_pct=round(vehicle.battery_pct),
            departure_ms=None if vehicle.departure_s is None else int(vehicle.departure_s * 1000),
            tier_watts=vehicle.tier_watts,
            free_slots=max(0, free) if vehicle.refusing is None else 0,
            energy_left_wh=max(0, int(policy.daily_energy_budget_wh - vehicle.energy_today_wh)),
            models=(MODEL,) if vehicle.has_model else (),
            region=vehicle.region,
        )
        vehicle.advert = SignedAdvert(advert, vehicle.key, b"")  # the simulator signs nothing
        return vehicle.advert

    def admit(self, vehicle: SimVehicle, regions: tuple[str, ...]) -> RejectReason | None:
        """The node's admission check for one assignment (task_server's order of checks)."""
        if regions and vehicle.region not in regions:
            reason: RejectReason | None = RejectReason.REGION_NOT_ALLOWED
        elif not residency_fits(vehicle.policy, regions):
            reason = RejectReason.REGION_NOT_ALLOWED
        else:
            self.advance_battery(vehicle)
            decision = decide(vehicle.policy, self.facts(vehicle), vehicle.memory)
            vehicle.memory, reason = decision.memory, decision.reason
        if reason is not None:
            self.refusals[reason.value] += 1
        return reason
