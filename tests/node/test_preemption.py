"""Driving always wins: a drive event mid-shard kills the worker and a signed abandon goes out."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from p2pfleet.core.advert import VehicleState
from p2pfleet.core.identity import Identity
from p2pfleet.core.task_messages import Abandon, Accept, RejectReason
from p2pfleet.net.host import HostConfig, open_host
from p2pfleet.node.daemon import open_node
from p2pfleet.node.vehicle import SimulatedVehicle, SimulatedVehicleConfig
from p2pfleet.node.worker_pool import WorkerPool
from p2pfleet.peerview import PeerView, now_ms
from p2pfleet.testing.task_client import one_shard_job, open_task, synthetic_batch
from tests.node.fleet_fixtures import LOOPBACK, node_config

IMAGES = 160  # several seconds of real compute on this machine, far longer than the test needs


async def wait_for_busy_worker(pool: WorkerPool) -> int:
    while not pool.busy_pids():
        await pool.wait_changed()
    return pool.busy_pids()[0]


def drive(vehicle: SimulatedVehicle) -> None:
    vehicle.set_state(VehicleState.DRIVING)


def overheat(vehicle: SimulatedVehicle) -> None:
    vehicle.set_temperature(95.0)


@pytest.mark.parametrize(
    ("event", "reason", "advertised_state"),
    [(drive, RejectReason.DRIVING, VehicleState.DRIVING), (overheat, RejectReason.THERMAL, None)],
)
def test_vehicle_event_mid_task_abandons_within_one_second(
    tmp_path: Path,
    mobilenet_int8: bytes,
    event: Callable[[SimulatedVehicle], None],
    reason: RejectReason,
    advertised_state: VehicleState | None,
) -> None:
    model_hash = hashlib.sha256(mobilenet_int8).digest()
    submitter = Identity(bytes(range(1, 33)))
    batch = synthetic_batch(IMAGES)

    async def main() -> None:
        vehicle = SimulatedVehicle(SimulatedVehicleConfig())
        config = node_config(tmp_path / "car", mobilenet_int8)
        async with open_node(config, vehicle=vehicle) as node:
            assert isinstance(node.executor, WorkerPool)
            client_config = HostConfig(seed=submitter.seed, listen_addrs=LOOPBACK)
            async with open_host(client_config) as client, trio.open_nursery() as nursery:
                watcher = PeerView(client)
                await nursery.start(watcher.follow, [config.region])
                await client.connect(node.host.listen_addrs()[0])
                signed = one_shard_job(submitter, model_hash, batch, items=IMAGES)
                with trio.fail_after(60):
                    session = await open_task(client, node.peer_id, signed, batch)
                    assert isinstance(await session.receive(), Accept)
                    pid = await wait_for_busy_worker(node.executor)
                    await trio.sleep(0.5)  # let the model load and the compute get going

                started = trio.current_time()
                event_ms = now_ms()
                event(vehicle)
                with trio.fail_after(30):
                    message = await session.receive()
                latency = trio.current_time() - started

                assert isinstance(message, Abandon), message
                assert message.reason is reason
                assert message.node_key == node.identity.public_key  # signed by the node
                assert message.job_id == signed.job_id
                assert latency < 1.0, f"abandon took {latency:.3f} s"
                # The worker process was killed and reaped: the compute really stopped.
                assert pid not in node.executor.worker_pids()
                with pytest.raises(ProcessLookupError):
                    os.kill(pid, 0)
                # The overlay hears it: a fresh advert without free slots (driving: the state too).
                with trio.fail_after(30):
                    while True:
                        advert = watcher.table.get(node.identity.public_key)
                        fresh = advert is not None and advert.advert.issued_at_ms >= event_ms
                        if fresh and advert is not None and advert.advert.free_slots == 0:
                            wanted = advertised_state or advert.advert.state
                            if advert.advert.state is wanted:
                                break
                        await watcher.wait_changed()
                assert node.tasks.running == 0
                assert node.status().refusal == reason.value  # and not merely busy
                assert node.current_advert().free_slots == 0
                assert node.ledger.totals().outcomes == {"abandoned": 1}
                nursery.cancel_scope.cancel()

    trio.run(main)
