"""The owner's policy on a live node: refusals by reason code, and adverts that agree."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trio

from p2pfleet.core.identity import Identity
from p2pfleet.core.policy import HourWindow, OwnerPolicy
from p2pfleet.core.task_messages import Accept, Commit, Reject, RejectReason, Result, RevealRequest
from p2pfleet.net.host import FleetHost, HostConfig, open_host
from p2pfleet.node.daemon import Node, open_node
from p2pfleet.node.vehicle import Link, SimulatedVehicle, SimulatedVehicleConfig
from p2pfleet.testing.task_client import one_shard_job, open_task, synthetic_batch
from tests.node.fleet_fixtures import LOOPBACK, node_config

SUBMITTER = Identity(bytes(range(5, 37)))
BATCH = synthetic_batch(1)


async def assign(
    client: FleetHost, node: Node, model: bytes, regions: tuple[str, ...] = ()
) -> object:
    signed = one_shard_job(SUBMITTER, model, BATCH, items=1, regions=regions)
    with trio.fail_after(60):
        session = await open_task(client, node.peer_id, signed, BATCH)
        decision = await session.receive()
        if isinstance(decision, Accept):
            assert isinstance(await session.receive(), Commit)
            await session.send(RevealRequest())
            assert isinstance(await session.receive(), Result)
            while node.tasks.active:
                await node.tasks.wait_changed()
        return decision


def reason(decision: object) -> RejectReason | None:
    return decision.reason if isinstance(decision, Reject) else None


Body = Callable[[FleetHost, Node, SimulatedVehicle], Awaitable[None]]


def run_with_node(tmp_path: Path, model: bytes, policy: OwnerPolicy, body: Body) -> None:
    vehicle = SimulatedVehicle(SimulatedVehicleConfig())
    config = node_config(tmp_path / "car", model, policy=policy)
    client_config = HostConfig(seed=SUBMITTER.seed, listen_addrs=LOOPBACK)

    async def main() -> None:
        async with open_node(config, vehicle=vehicle) as node, open_host(client_config) as client:
            await client.connect(node.host.listen_addrs()[0])
            await body(client, node, vehicle)

    trio.run(main)


def test_outside_allowed_hours_the_node_refuses_and_advertises_no_slots(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    later = datetime.now(UTC) + timedelta(hours=3)
    start = later.hour * 60
    window = HourWindow(start, (start + 60) % 1440 or 1440)
    policy = OwnerPolicy(allowed_hours=(window,), timezone="UTC")
    model = hashlib.sha256(mobilenet_int8).digest()

    async def body(client: FleetHost, node: Node, vehicle: SimulatedVehicle) -> None:
        assert reason(await assign(client, node, model)) is RejectReason.OUTSIDE_HOURS
        assert node.current_advert().free_slots == 0
        assert node.status().refusal == "outside-hours"

    run_with_node(tmp_path, mobilenet_int8, policy, body)


def test_data_residency_thermal_hysteresis_and_cellular_accounting(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    policy = OwnerPolicy(
        allowed_data_regions=("local",), max_temperature_c=60.0, thermal_hysteresis_c=5.0
    )
    model = hashlib.sha256(mobilenet_int8).digest()

    async def body(client: FleetHost, node: Node, vehicle: SimulatedVehicle) -> None:
        # Data with no declared residency may come from anywhere: refused.
        assert reason(await assign(client, node, model)) is RejectReason.REGION_NOT_ALLOWED
        elsewhere = await assign(client, node, model, regions=("local", "us-east"))
        assert reason(elsewhere) is RejectReason.REGION_NOT_ALLOWED

        vehicle.set_temperature(61.0)
        assert reason(await assign(client, node, model, ("local",))) is RejectReason.THERMAL
        assert node.current_advert().free_slots == 0
        vehicle.set_temperature(57.0)  # below the limit, not yet below limit - hysteresis
        assert reason(await assign(client, node, model, ("local",))) is RejectReason.THERMAL
        vehicle.set_temperature(55.0)
        vehicle.set_link(Link.CELLULAR)
        assert isinstance(await assign(client, node, model, ("local",)), Accept)
        today = node.ledger.today()
        assert today.completed == 1 and today.cellular_bytes == today.data_bytes > 0

    run_with_node(tmp_path, mobilenet_int8, policy, body)


def test_cellular_data_cap_refuses_on_cellular_only(tmp_path: Path, mobilenet_int8: bytes) -> None:
    policy = OwnerPolicy(daily_cellular_data_mb=0)
    model = hashlib.sha256(mobilenet_int8).digest()

    async def body(client: FleetHost, node: Node, vehicle: SimulatedVehicle) -> None:
        vehicle.set_link(Link.CELLULAR)
        assert reason(await assign(client, node, model)) is RejectReason.DATA_CAP
        vehicle.set_link(Link.WIFI)
        assert isinstance(await assign(client, node, model), Accept)

    run_with_node(tmp_path, mobilenet_int8, replace(policy), body)
