"""Benchmark "driving always wins": drive event -> signed abandon received by the submitter.

Usage: PYTHONPATH=. python tools/bench_preemption.py [--runs 7] [--images 160]

One in-process node on 127.0.0.1 and a bare submitter host. Each run assigns
a long shard of real MobileNetV2-int8 work, waits until it is computing, sets
the simulated vehicle to driving and measures, side by side in one run:

- process: the node's worker-process slots (the default; the worker is killed);
- thread:  the previous thread-based executor (the shard is abandoned, but the
           thread cannot be stopped and keeps computing until it finishes).

Prints median and p95 latency from the drive event to the abandon arriving at
the submitter, and how long the shard's compute kept running after it.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import trio

from p2pfleet.core.advert import VehicleState
from p2pfleet.core.identity import Identity
from p2pfleet.core.task_messages import Abandon, Accept
from p2pfleet.inference.engine import Runner
from p2pfleet.inference.runtime import build_mobilenet_v2_int8
from p2pfleet.inference.store import ModelStore
from p2pfleet.net.host import HostConfig, open_host
from p2pfleet.node.config import NodeConfig
from p2pfleet.node.daemon import open_node
from p2pfleet.node.executor import ModelExecutor, ShardExecutor
from p2pfleet.node.vehicle import SimulatedVehicle, SimulatedVehicleConfig
from p2pfleet.node.worker_pool import WorkerPool
from p2pfleet.testing.task_client import one_shard_job, open_task, synthetic_batch

LOOPBACK = ("/ip4/127.0.0.1/tcp/0",)
RUNNING_BEFORE_DRIVE_S = 0.5


class ObservedThreadExecutor(ModelExecutor):
    """The thread-based executor, recording when each shard's thread really ends."""

    def __init__(self, store: ModelStore) -> None:
        super().__init__(store)
        self.started = threading.Event()
        self.finished = threading.Event()

    def _timed(self, model: Runner, input_bytes: bytes) -> bytes:
        self.started.set()
        try:
            return model.run_bytes(input_bytes)
        finally:
            self.finished.set()

    async def run(self, model_hash: bytes, input_bytes: bytes) -> bytes:
        self.started.clear()
        self.finished.clear()
        model = await trio.to_thread.run_sync(self._model, model_hash)
        return await trio.to_thread.run_sync(
            self._timed, model, input_bytes, abandon_on_cancel=True
        )


async def measure(
    kind: str, base: Path, model: bytes, runs: int, images: int
) -> list[tuple[float, float]]:
    model_hash = hashlib.sha256(model).digest()
    store = ModelStore(base / kind / "models")
    store.put(model)
    config = replace(NodeConfig(data_dir=base / kind, listen=LOOPBACK), advert_interval_s=5.0)
    executor: ShardExecutor | None = None if kind == "process" else ObservedThreadExecutor(store)
    vehicle = SimulatedVehicle(SimulatedVehicleConfig())
    submitter = Identity(bytes(range(7, 39)))
    batch = synthetic_batch(images)
    results = []
    client_config = HostConfig(seed=submitter.seed, listen_addrs=LOOPBACK)
    async with (
        open_node(config, vehicle=vehicle, executor=executor) as node,
        open_host(client_config) as client,
    ):
        await client.connect(node.host.listen_addrs()[0])
        for _ in range(runs):
            vehicle.set_state(VehicleState.PARKED)
            signed = one_shard_job(submitter, model_hash, batch, items=images)
            session = await open_task(client, node.peer_id, signed, batch)
            assert isinstance(await session.receive(), Accept)
            await _wait_computing(node.executor)
            await trio.sleep(RUNNING_BEFORE_DRIVE_S)
            started = time.perf_counter()
            vehicle.set_state(VehicleState.DRIVING)
            message = await session.receive()
            latency = time.perf_counter() - started
            assert isinstance(message, Abandon), message
            if isinstance(node.executor, ObservedThreadExecutor):
                await trio.to_thread.run_sync(node.executor.finished.wait)
                kept_computing = time.perf_counter() - started - latency
            else:  # the worker process was killed before the abandon went out
                assert isinstance(node.executor, WorkerPool) and not node.executor.busy_pids()
                kept_computing = 0.0
            results.append((latency, kept_computing))
            await session.stream.reset()
    return results


async def _wait_computing(executor: ShardExecutor) -> None:
    if isinstance(executor, WorkerPool):
        while not executor.busy_pids():
            await executor.wait_changed()
    elif isinstance(executor, ObservedThreadExecutor):
        await trio.to_thread.run_sync(executor.started.wait)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--images", type=int, default=160, help="images per shard (work length)")
    args = parser.parse_args()
    import logging

    from p2pfleet.net.logs import configure_logging

    configure_logging(logging.ERROR)
    model = build_mobilenet_v2_int8()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("process", "thread"):
            rows[kind] = trio.run(measure, kind, Path(tmp), model, args.runs, args.images)
    print(
        f"drive event -> signed abandon at the submitter, {args.runs} runs each, "
        f"{args.images}-image shards (real MobileNetV2-int8), one machine, loopback"
    )
    print(
        f"{'executor':<10} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} {'compute kept running after abandon (median s)':>48}"
    )
    for kind, values in rows.items():
        latencies = [v[0] * 1000 for v in values]
        kept = [v[1] for v in values]
        print(
            f"{kind:<10} {statistics.median(latencies):>10.1f} {p95(latencies):>8.1f} "
            f"{max(latencies):>8.1f} {statistics.median(kept):>48.2f}"
        )
    ratio = statistics.median([v[0] for v in rows["process"]]) / statistics.median(
        [v[0] for v in rows["thread"]]
    )
    print(f"process/thread median latency ratio: {ratio:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
