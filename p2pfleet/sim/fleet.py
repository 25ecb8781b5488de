"""The simulated fleet: vehicles, their owners, policies, regions and Byzantine behaviour.

A vehicle's mutable state lives in a slotted `SimVehicle`; `build_fleet` draws
a whole fleet from one rng. Owners: most vehicles have their own owner key,
the rest belong to fleet operators with 50 vehicles each (whose cars the
scheduler never uses twice for one shard).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from p2pfleet.core.advert import SignedAdvert, VehicleState
from p2pfleet.core.energy import BatteryModel, local_day_start
from p2pfleet.core.policy import HourWindow, OwnerPolicy, PolicyMemory
from p2pfleet.core.task_messages import RejectReason
from p2pfleet.sim.byzantine import BYZANTINE, Behaviour
from p2pfleet.sim.config import MIXED, REGIONS, SimConfig
from p2pfleet.sim.schedules import DailyPlan, daily_plan

if TYPE_CHECKING:
    from p2pfleet.sim.work import Run

FLEET_OPERATOR_SHARE = 0.3  # vehicles owned by fleet operators
FLEET_SIZE = 50  # vehicles per fleet operator
TIERS_W = (50, 100, 100, 200)  # onboard AI computer sustained power (100 W = reference speed)
BATTERIES = (BatteryModel(capacity_kwh=40.0), BatteryModel(), BatteryModel(capacity_kwh=80.0))
NIGHT = HourWindow.parse("22:00-07:00")


@dataclass(slots=True, eq=False)
class SimVehicle:
    index: int
    key: bytes  # node public key (32 bytes)
    owner: bytes
    region: str
    utc_offset_s: float
    plan: DailyPlan
    policy: OwnerPolicy
    battery_model: BatteryModel
    tier_watts: int
    behaviour: Behaviour
    battery_pct: float
    battery_at_s: float = 0.0  # when battery_pct was last advanced
    state: VehicleState = VehicleState.PARKED
    leg: int = 0
    departure_s: float | None = None  # predicted departure, simulated seconds
    unplanned_until_s: float = -1.0  # driving off-schedule (churn) until then
    memory: PolicyMemory = field(default_factory=PolicyMemory)
    running: list[Run] = field(default_factory=list)  # the submitter's runs on this node
    refusing: RejectReason | None = None  # the owner policy's answer at the last advert
    refusing_since_s: float = 0.0
    advert: SignedAdvert | None = None  # the last advert published, rebuilt on change
    seq: int = 0
    has_model: bool = False
    recheck_pending: bool = False
    day_start_s: float = 0.0  # the vehicle's last local midnight, simulated seconds
    energy_today_wh: float = 0.0
    cellular_today_b: int = 0
    energy_total_wh: float = 0.0
    runs: int = 0

    @property
    def at_home(self) -> bool:
        return self.plan.at_home[self.leg]

    @property
    def plugged_in(self) -> bool:
        return self.state is VehicleState.CHARGING

    @property
    def byzantine(self) -> bool:
        return self.behaviour is not Behaviour.HONEST


def owner_policy(rng: random.Random) -> OwnerPolicy:
    """An owner's policy, drawn from a spread of cautious and generous settings."""
    return OwnerPolicy(
        min_battery_pct=rng.choice((20, 30, 40, 50, 60)),
        only_when_plugged_in=rng.random() < 0.3,
        allowed_hours=(NIGHT,) if rng.random() < 0.2 else (),
        daily_energy_budget_wh=rng.choice((100, 250, 500, 1000, 2000)),
        daily_cellular_data_mb=None if rng.random() < 0.5 else rng.choice((20, 100, 500)),
        max_concurrent_tasks=rng.choice((1, 1, 2)),
    )


def _behaviours(config: SimConfig, count: int) -> list[Behaviour]:
    if config.behaviour == MIXED:
        return [BYZANTINE[i % len(BYZANTINE)] for i in range(count)]
    return [Behaviour(config.behaviour)] * count


def build_fleet(config: SimConfig, rng: random.Random) -> list[SimVehicle]:
    regions = REGIONS[: config.regions]
    n = config.vehicles
    byzantine_count = round(config.byzantine * n)
    behaviour_of = dict(
        zip(
            rng.sample(range(n), byzantine_count), _behaviours(config, byzantine_count), strict=True
        )
    )
    operated = int(n * FLEET_OPERATOR_SHARE)
    vehicles = []
    policies: dict[int, OwnerPolicy] = {}
    for index in range(n):
        owner_id = index // FLEET_SIZE if index < operated else index  # operators own blocks
        policy = policies.get(owner_id) if index < operated else None
        if policy is None:
            policy = policies[owner_id] = owner_policy(rng)
        region, offset_h = regions[(owner_id if index < operated else index) % len(regions)]
        vehicles.append(
            SimVehicle(
                index=index,
                key=b"N" + index.to_bytes(31, "big"),
                owner=b"O" + owner_id.to_bytes(31, "big"),
                region=region,
                utc_offset_s=offset_h * 3600.0,
                plan=daily_plan(rng),
                policy=policy,
                battery_model=rng.choice(BATTERIES),
                tier_watts=rng.choice(TIERS_W),
                behaviour=behaviour_of.get(index, Behaviour.HONEST),
                battery_pct=rng.uniform(35.0, 95.0),
                day_start_s=local_day_start(0.0, offset_h * 3600.0),
            )
        )
    return vehicles


class Pool:
    """Vehicles currently offering work, with O(1) add, remove and random sampling."""

    def __init__(self) -> None:
        self.items: list[SimVehicle] = []
        self._where: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.items)

    def add(self, vehicle: SimVehicle) -> None:
        if vehicle.index not in self._where:
            self._where[vehicle.index] = len(self.items)
            self.items.append(vehicle)

    def discard(self, vehicle: SimVehicle) -> None:
        position = self._where.pop(vehicle.index, None)
        if position is None:
            return
        last = self.items.pop()
        if last is not vehicle:
            self.items[position] = last
            self._where[last.index] = position

    def sample(self, count: int, rng: random.Random) -> list[SimVehicle]:
        return rng.sample(self.items, min(count, len(self.items)))
