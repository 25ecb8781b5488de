"""The submitter: `async with open_client(config) as client: await client.run_job(spec)`."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio

from p2pfleet.core.identity import Identity
from p2pfleet.core.scheduler import ShardNeeds
from p2pfleet.inference.runtime import LoadedModel, load_model
from p2pfleet.inference.store import ModelStore
from p2pfleet.keys import load_or_create_key_file
from p2pfleet.models import ensure_builtin_model
from p2pfleet.net.host import FleetHost, HostConfig, open_host
from p2pfleet.node.config import default_data_dir
from p2pfleet.peerview import PeerView, now_ms
from p2pfleet.submit.coordinator import Capacity, ShardCoordinator, ShardRecord
from p2pfleet.submit.job import JobSpec
from p2pfleet.submit.planner import JobPlan, load_inputs, plan_job
from p2pfleet.submit.replica import ReplicaTimeouts

log = logging.getLogger("p2pfleet.submit")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    data_dir: Path = field(default_factory=lambda: default_data_dir() / "submitter")
    key_file: Path | None = None
    listen: tuple[str, ...] = ("/ip4/127.0.0.1/tcp/0",)
    bootstrap: tuple[str, ...] = ()
    regions: tuple[str, ...] = ("local",)
    max_in_flight_per_node: int = 1
    timeouts: ReplicaTimeouts = field(default_factory=ReplicaTimeouts)

    @property
    def key_path(self) -> Path:
        return self.key_file or self.data_dir / "submitter.key"


@dataclass(frozen=True, slots=True)
class JobResult:
    plan: JobPlan
    spec: JobSpec
    model: LoadedModel
    records: tuple[ShardRecord, ...]
    elapsed_s: float


ProgressCallback = Callable[[ShardRecord], None]


class Client:
    def __init__(
        self, config: ClientConfig, identity: Identity, host: FleetHost, store: ModelStore
    ) -> None:
        self.config = config
        self.identity = identity
        self.host = host
        self.store = store
        self.peers = PeerView(host)
        self._rng = random.SystemRandom()  # placement must be unpredictable

    async def wait_for_nodes(self, count: int) -> None:
        """Block until `count` nodes have advertised (bound it with trio.fail_after)."""
        await self.peers.wait_for_peers(count)

    async def run_job(
        self, spec: JobSpec, *, on_shard: ProgressCallback | None = None
    ) -> JobResult:
        started = time.monotonic()
        model_hash = ensure_builtin_model(self.store, spec.model)
        model = await trio.to_thread.run_sync(load_model, self.store.get(model_hash))
        inputs = await trio.to_thread.run_sync(load_inputs, spec.inputs)
        plan = plan_job(self.identity, spec, bytes.fromhex(model_hash), inputs, now_ms())
        needs = ShardNeeds(
            model=bytes.fromhex(model_hash),
            regions=spec.regions,
            min_tier_watts=spec.min_tier_watts,
            estimated_ms=spec.shard_size * 1000,
        )
        coordinator = ShardCoordinator(
            self.host,
            self.peers,
            plan,
            needs,
            Capacity(self.config.max_in_flight_per_node),
            self._rng,
            self.config.timeouts,
        )
        records: list[ShardRecord | None] = [None] * len(plan.shards)

        async def run_one(index: int) -> None:
            record = await coordinator.run(plan.shards[index])
            records[index] = record
            if on_shard is not None:
                on_shard(record)

        log.info(
            "job %s: %d inputs in %d shards", plan.job_id.hex()[:12], len(inputs), len(plan.shards)
        )
        async with trio.open_nursery() as nursery:
            for index in range(len(plan.shards)):
                nursery.start_soon(run_one, index)
        done = tuple(r for r in records if r is not None)
        return JobResult(plan, spec, model, done, time.monotonic() - started)


@asynccontextmanager
async def open_client(config: ClientConfig) -> AsyncIterator[Client]:
    identity = load_or_create_key_file(config.key_path)
    store = ModelStore(config.data_dir / "models")
    host_config = HostConfig(
        seed=identity.seed, listen_addrs=config.listen, bootstrap=config.bootstrap
    )
    async with open_host(host_config) as host:
        client = Client(config, identity, host, store)
        async with trio.open_nursery() as nursery:
            await nursery.start(client.peers.follow, list(config.regions))
            try:
                yield client
            finally:
                nursery.cancel_scope.cancel()
