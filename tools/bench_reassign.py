"""Reassign latency: from a node giving up to the replacement replica being placed.

Three paths, on real py-libp2p nodes on loopback: a signed abandon (the
vehicle starts driving), a reset stream (the node drops the shard), and an
advert alone (gossip says the vehicle is driving; no abandon arrives; the
same watcher handles an advert that expires).

It starts an in-process fleet, runs jobs whose first replica is held by a node
that then leaves, and prints the time from the trigger to the submitter's
`reassigned` event (median and max per path).

    PYTHONPATH=. python tools/bench_reassign.py [--rounds 5] [--paths abandon reset advert]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from p2pfleet.core.advert import VehicleState, sign_advert
from p2pfleet.core.protocol_ids import advert_topic
from p2pfleet.inference.runtime import build_mobilenet_v2_int8
from p2pfleet.net.logs import configure_logging
from p2pfleet.node.daemon import Node
from p2pfleet.submit.client import open_client
from p2pfleet.submit.events import EventKind, JobEvent
from p2pfleet.submit.job import JobSpec
from tests.node.fleet_fixtures import open_fleet
from tests.submit.helpers import client_config, write_photos


class HoldingExecutor:
    """Holds every shard until told to fail (a reset stream) or until it is preempted."""

    def __init__(self, honest: object) -> None:
        self._honest = honest
        self.fail_now = trio.Event()

    def supports(self, model_hash: bytes, runtime: str) -> bool:
        return True

    async def run(self, model_hash: bytes, input_bytes: bytes) -> bytes:
        await self.fail_now.wait()
        raise RuntimeError("bench: the node drops the shard")


async def one_round(client: object, nodes: list[Node], photos: Path, path: str) -> float:
    holders: dict[str, HoldingExecutor] = {}
    for node in nodes:
        holder = HoldingExecutor(node.tasks._executor)
        holders[node.peer_id] = holder
        node.tasks._executor = holder
    triggered: list[float] = []
    result: list[float] = []
    first_peer: list[str] = []
    done = trio.Event()
    assigned = trio.Event()

    def on_event(event: JobEvent) -> None:
        if event.kind is EventKind.ASSIGNED and not first_peer and event.peer:
            first_peer.append(event.peer)
            assigned.set()
        if event.kind is EventKind.REASSIGNED and triggered and not result:
            result.append(trio.current_time() - triggered[0])
            done.set()

    async with trio.open_nursery() as nursery:

        async def job() -> None:
            spec = JobSpec(inputs=str(photos), shard_size=1, replicas=1, max_replicas=3)
            await client.run_job(spec, on_event=on_event)  # type: ignore[attr-defined]

        nursery.start_soon(job)
        await assigned.wait()
        await trio.sleep(0.3)  # the node is computing
        victim = next(n for n in nodes if n.peer_id == first_peer[0])
        triggered.append(trio.current_time())
        if path == "abandon":
            victim.vehicle.set_state(VehicleState.DRIVING)
        elif path == "reset":
            holders[victim.peer_id].fail_now.set()
        else:  # "advert": only gossip says it left (no abandon, the stream stays open)
            driving = replace(victim.current_advert(), state=VehicleState.DRIVING)
            wire = sign_advert(victim.identity, driving).wire
            await victim.host.publish(advert_topic(victim.config.region), wire)
        await done.wait()
        nursery.cancel_scope.cancel()
    for holder in holders.values():  # free every node for the next round
        holder.fail_now.set()
    for node in nodes:
        node.vehicle.set_state(VehicleState.PARKED)
    return result[0]


async def main(rounds: int, paths: list[str]) -> None:
    sys.setswitchinterval(1e-4)  # in-process nodes: see tests/submit/conftest.py
    model = build_mobilenet_v2_int8()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        photos = write_photos(base / "photos", ("coffee",))
        async with (
            open_fleet(base / "fleet", model, 4) as nodes,
            open_client(client_config(base, nodes)) as client,
        ):
            with trio.fail_after(60):
                await client.wait_for_nodes(4)
            print(f"{rounds} rounds per path, 4 nodes, py-libp2p on 127.0.0.1")
            for path in paths:
                samples = []
                for _ in range(rounds):
                    with trio.fail_after(60):
                        samples.append(await one_round(client, nodes, photos, path))
                    await trio.sleep(1.5)  # adverts settle
                print(
                    f"{path:8} median {statistics.median(samples) * 1000:7.1f} ms   "
                    f"max {max(samples) * 1000:7.1f} ms"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--paths", nargs="+", default=["abandon", "reset", "advert"])
    args = parser.parse_args()
    configure_logging(logging.WARNING)  # py-libp2p's expected errors stay out of the figures
    trio.run(main, args.rounds, args.paths)
