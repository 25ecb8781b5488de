"""Churn: a flaky node, and 30% of the fleet driving away mid-job; no shard is lost."""

from __future__ import annotations

import hashlib
from pathlib import Path

import trio

from p2pfleet.core.advert import VehicleState
from p2pfleet.submit.client import open_client
from p2pfleet.submit.events import EventKind, JobEvent
from p2pfleet.submit.job import JobSpec
from p2pfleet.submit.replica import ReplicaTimeouts
from p2pfleet.testing.faults import FlakyExecutor, SlowExecutor
from tests.node.fleet_fixtures import open_fleet

from .helpers import QUIET, EventLog, client_config, honest_hashes, share_cpu, write_photos


def test_a_flaky_node_costs_reassignments_not_shards(tmp_path: Path, mobilenet_int8: bytes) -> None:
    photos = write_photos(tmp_path / "photos", ("coffee", "chelsea", "rocket", "clock", "camera"))

    async def main() -> None:
        async with open_fleet(tmp_path / "fleet", mobilenet_int8, 4, **QUIET) as nodes:
            flaky = FlakyExecutor(nodes[0].tasks._executor, fail_rate=0.5, stall_rate=0.5, seed=3)
            nodes[0].tasks._executor = flaky
            short = ReplicaTimeouts(accept_s=30.0, commit_s=20.0, reveal_s=60.0)
            config = client_config(tmp_path, nodes, timeouts=short)
            async with open_client(config) as client:
                with trio.fail_after(60):
                    await client.wait_for_nodes(4)
                spec = JobSpec(inputs=str(photos), shard_size=1, replicas=2, max_replicas=4)
                events = EventLog()
                with trio.fail_after(600):
                    result = await client.run_job(spec, on_event=events)
        expected = honest_hashes(mobilenet_int8, result)
        assert {
            i: hashlib.sha256(o).digest() for i, o in result.outcome.outputs.items()
        } == expected
        flaky_key = nodes[0].identity.public_key
        flaky_runs = [
            rep for r in result.records for rep in r.replicas if rep.node_key == flaky_key
        ]
        assert flaky.failures + flaky.stalls >= 1 and flaky_runs
        assert any(rep.outcome.value in ("failed", "abandoned") for rep in flaky_runs)
        assert "lost" in events.kinds() and "reassigned" in events.kinds()
        assert not result.outcome.caught  # flaky is not cheating

    trio.run(main)


def test_thirty_percent_drive_away_mid_job_and_the_job_completes(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    photos = write_photos(tmp_path / "photos")

    async def main() -> None:
        async with open_fleet(tmp_path / "fleet", mobilenet_int8, 10, **QUIET) as nodes:
            share_cpu(nodes, 2)
            for node in nodes:  # every shard takes a while, so drivers leave work unfinished
                node.tasks._executor = SlowExecutor(node.tasks._executor, 2.0)
            drivers = nodes[:3]
            driver_keys = {n.identity.public_key for n in drivers}
            lost_at: dict[tuple[int, str], float] = {}
            latencies: list[float] = []
            events = EventLog()
            started = trio.Event()

            def on_event(event: JobEvent) -> None:
                events(event)
                if event.kind is EventKind.ASSIGNED and event.shard is not None:
                    started.set()
                if event.kind is EventKind.LOST and event.shard is not None:
                    lost_at[(event.shard, event.peer or "")] = trio.current_time()
                if event.kind is EventKind.REASSIGNED and event.shard is not None:
                    losses = [t for (s, _), t in lost_at.items() if s == event.shard]
                    if losses:
                        latencies.append(trio.current_time() - max(losses))

            async with open_client(client_config(tmp_path, nodes)) as client:
                with trio.fail_after(60):
                    await client.wait_for_nodes(10)
                spec = JobSpec(inputs=str(photos), shard_size=1, replicas=2, max_replicas=5)
                async with trio.open_nursery() as nursery:

                    async def drive_away() -> None:
                        await started.wait()
                        await trio.sleep(0.5)  # let them start computing
                        for node in drivers:
                            node.vehicle.set_state(VehicleState.DRIVING)

                    nursery.start_soon(drive_away)
                    with trio.fail_after(600):
                        result = await client.run_job(spec, on_event=on_event)
        expected = honest_hashes(mobilenet_int8, result)
        assert {
            i: hashlib.sha256(o).digest() for i, o in result.outcome.outputs.items()
        } == expected
        abandoned = [
            rep
            for r in result.records
            for rep in r.replicas
            if rep.node_key in driver_keys and rep.outcome.value == "abandoned"
        ]
        assert abandoned, "the drivers held assignments when they left"
        # Every lost shard was placed again (the latency itself is measured by
        # tools/bench_reassign.py, not asserted here: this fleet is busy on purpose).
        assert latencies
        reassigned = {e.shard for e in events if e.kind is EventKind.REASSIGNED}
        assert {shard for shard, _ in lost_at} <= reassigned
        late = [
            rep
            for r in result.records
            for rep in r.replicas
            if rep.node_key in driver_keys and rep.placed_at > max(lost_at.values())
        ]
        assert not late, "nothing is placed on a driving vehicle"

    trio.run(main)
