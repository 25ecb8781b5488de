"""The simulator runs the live network's own core functions, not copies of them.

Each name must be the very object the live module uses (and the core's own),
so a forked copy in either place fails here.
"""

from __future__ import annotations

from types import ModuleType

import pytest

import p2pfleet.core.energy as energy
import p2pfleet.core.mobility as mobility
import p2pfleet.core.policy as policy
import p2pfleet.core.reputation as reputation
import p2pfleet.core.scheduler as scheduler
import p2pfleet.core.verify as verify
import p2pfleet.node.daemon as daemon
import p2pfleet.node.ledger as ledger
import p2pfleet.node.vehicle as vehicle
import p2pfleet.sim.dynamics as dynamics
import p2pfleet.sim.engine as engine
import p2pfleet.sim.fleet as fleet
import p2pfleet.sim.submitter as submitter
import p2pfleet.submit.coordinator as coordinator
import p2pfleet.submit.job as job
import p2pfleet.submit.runner as runner


@pytest.mark.parametrize(
    ("name", "core", "live", "sim"),
    [
        ("choose_replicas", scheduler, coordinator, submitter),
        ("shard_exclusions", scheduler, coordinator, submitter),
        ("ShardNeeds", scheduler, coordinator, engine),
        ("ShardQuorum", verify, coordinator, submitter),
        ("QuorumStatus", verify, coordinator, submitter),
        ("AdaptivePolicy", reputation, runner, submitter),
        ("decide", policy, daemon, dynamics),
        ("task_energy_wh", energy, ledger, submitter),
        ("leg_at", mobility, vehicle, dynamics),
        ("departure_in_s", mobility, vehicle, dynamics),
        ("CANARY_MAX_REPLICAS", job, runner, submitter),  # the canary escalation cap
    ],
)
def test_simulator_and_live_code_share_the_core_object(
    name: str, core: ModuleType, live: ModuleType, sim: ModuleType
) -> None:
    assert getattr(sim, name) is getattr(core, name)
    assert getattr(live, name) is getattr(core, name)


def test_battery_model_is_the_node_adapters() -> None:
    assert type(vehicle.SimulatedVehicleConfig().battery) is energy.BatteryModel
    assert all(type(model) is energy.BatteryModel for model in fleet.BATTERIES)
