"""The simulator runs the live network's own core functions, not copies of them."""

from __future__ import annotations

import p2pfleet.node.daemon as daemon
import p2pfleet.node.ledger as ledger
import p2pfleet.node.vehicle as vehicle
import p2pfleet.sim.dynamics as dynamics
import p2pfleet.sim.engine as engine
import p2pfleet.sim.submitter as submitter
import p2pfleet.submit.coordinator as coordinator
import p2pfleet.submit.runner as runner


def test_placement_and_quorum_are_the_submitters() -> None:
    assert submitter.choose_replicas is coordinator.choose_replicas
    assert submitter.ShardQuorum is coordinator.ShardQuorum
    assert submitter.QuorumStatus is coordinator.QuorumStatus
    assert engine.ShardNeeds is coordinator.ShardNeeds


def test_reputation_is_the_runners() -> None:
    assert submitter.AdaptivePolicy is runner.AdaptivePolicy
    assert submitter.CANARY_MAX_REPLICAS == runner.CANARY_MAX_REPLICAS


def test_owner_policy_and_energy_are_the_nodes() -> None:
    assert dynamics.decide is daemon.decide
    assert submitter.task_energy_wh is ledger.task_energy_wh


def test_vehicle_schedule_is_the_node_adapters() -> None:
    assert dynamics.leg_at is vehicle.leg_at
    assert dynamics.departure_in_s is vehicle.departure_in_s
    assert vehicle.ScheduleLeg is __import__("p2pfleet.core.mobility").core.mobility.ScheduleLeg
