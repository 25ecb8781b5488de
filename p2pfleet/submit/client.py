"""The submitter: `async with open_client(config) as client: await client.run_job(spec)`."""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio

from p2pfleet.core.identity import Identity
from p2pfleet.core.manifest import verify_manifest
from p2pfleet.core.scheduler import ShardNeeds, job_share_cap
from p2pfleet.inference.engine import Runner, load_runner
from p2pfleet.inference.store import ModelStore
from p2pfleet.keys import load_or_create_key_file
from p2pfleet.models import ensure_builtin_model
from p2pfleet.net.host import FleetHost, HostConfig, open_host
from p2pfleet.node.config import default_data_dir
from p2pfleet.peerview import PeerView, now_ms
from p2pfleet.submit.coordinator import Capacity, ReplicaSink, ShardCoordinator, ShardRecord
from p2pfleet.submit.events import EventSink, JobEvent
from p2pfleet.submit.inputs import load_inputs
from p2pfleet.submit.job import JobSpec
from p2pfleet.submit.journal import Journal, JournalShard, ShardStatus
from p2pfleet.submit.planner import JobPlan, ShardPlan, plan_job
from p2pfleet.submit.replica import Replica, ReplicaTimeouts
from p2pfleet.submit.runner import JobOutcome, JobRunner

log = logging.getLogger("p2pfleet.submit")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    data_dir: Path = field(default_factory=lambda: default_data_dir() / "submitter")
    key_file: Path | None = None
    journal_file: Path | None = None  # default: <data_dir>/journal.sqlite3
    listen: tuple[str, ...] = ("/ip4/127.0.0.1/tcp/0",)
    bootstrap: tuple[str, ...] = ()
    regions: tuple[str, ...] = ("local",)
    max_in_flight_per_node: int = 1
    trusted_authorities: tuple[bytes, ...] = ()  # region-certificate authority public keys
    timeouts: ReplicaTimeouts = field(default_factory=ReplicaTimeouts)

    @property
    def key_path(self) -> Path:
        return self.key_file or self.data_dir / "submitter.key"

    @property
    def journal_path(self) -> Path:
        return self.journal_file or self.data_dir / "journal.sqlite3"


@dataclass(frozen=True, slots=True)
class JobResult:
    plan: JobPlan
    spec: JobSpec
    model: Runner
    outcome: JobOutcome
    elapsed_s: float

    @property
    def records(self) -> tuple[ShardRecord, ...]:
        """Real (non-canary) shards verified in this session, in manifest order."""
        return tuple(
            sorted(
                (r for r in self.outcome.records if not r.shard.canary),
                key=lambda r: r.shard.index,
            )
        )

    @property
    def job_id(self) -> str:
        return self.plan.job_id.hex()


def _silent(event: JobEvent) -> None:
    pass


class Client:
    def __init__(
        self,
        config: ClientConfig,
        identity: Identity,
        host: FleetHost,
        store: ModelStore,
        journal: Journal,
    ) -> None:
        self.config = config
        self.identity = identity
        self.host = host
        self.store = store
        self.journal = journal
        self.peers = PeerView(host)
        self._rng = random.SystemRandom()  # placement must be unpredictable

    async def wait_for_nodes(self, count: int) -> None:
        """Block until `count` nodes have advertised (bound it with trio.fail_after)."""
        await self.peers.wait_for_peers(count)

    async def run_job(
        self,
        spec: JobSpec,
        *,
        on_event: EventSink | None = None,
        on_shard: Callable[[ShardRecord], None] | None = None,
    ) -> JobResult:
        """Plan, journal and run a new job to the end."""
        started = time.monotonic()
        model_hash = ensure_builtin_model(self.store, spec.model)
        model_bytes = self.store.get(model_hash)
        model = await trio.to_thread.run_sync(load_runner, model_bytes)
        inputs = await trio.to_thread.run_sync(load_inputs, spec.inputs, model.info.task)
        real_shards = -(-len(inputs) // spec.shard_size)
        policy = spec.adaptive_policy()
        canaries = policy.canary_count(real_shards) if policy else 0
        plan = plan_job(
            self.identity,
            spec,
            model_bytes,
            inputs,
            now_ms(),
            canaries=canaries,
            rng=self._rng,
        )
        plan = await trio.to_thread.run_sync(_with_known_answers, plan, model)
        self.journal.create_job(
            plan.job_id.hex(),
            spec.to_json(),
            plan.manifest.wire,
            [
                JournalShard(
                    index=s.index,
                    names=s.names,
                    input_bytes=s.input_bytes,
                    canary=s.canary,
                    known_hash=s.known_hash,
                    status=ShardStatus.QUEUED,
                    accepted_hash=None,
                    output=None,
                    trusted_node=None,
                )
                for s in plan.shards
            ],
        )
        log.info(
            "job %s: %d inputs in %d shards (+%d canaries)",
            plan.job_id.hex()[:12],
            len(inputs),
            real_shards,
            canaries,
        )
        return await self._drive(plan, spec, model, started, on_event, on_shard)

    async def resume_job(
        self,
        job_id: str,
        *,
        on_event: EventSink | None = None,
        on_shard: Callable[[ShardRecord], None] | None = None,
    ) -> JobResult:
        """Finish a journaled job; shards already verified are not run again."""
        started = time.monotonic()
        saved = self.journal.job(job_id)
        spec = JobSpec.from_json(saved.spec_json)
        manifest = verify_manifest(saved.manifest_wire)
        shards = tuple(
            ShardPlan(s.index, s.names, s.input_bytes, s.canary, s.known_hash)
            for s in self.journal.shards(job_id)
        )
        plan = JobPlan(manifest, shards)
        model = await trio.to_thread.run_sync(
            load_runner, self.store.get(manifest.manifest.model.hex())
        )
        return await self._drive(plan, spec, model, started, on_event, on_shard)

    async def _drive(
        self,
        plan: JobPlan,
        spec: JobSpec,
        model: Runner,
        started: float,
        on_event: EventSink | None,
        on_shard: Callable[[ShardRecord], None] | None,
    ) -> JobResult:
        needs = ShardNeeds(
            model=plan.manifest.manifest.model,
            regions=spec.regions,
            min_tier_watts=spec.min_tier_watts,
            min_battery_pct=spec.min_battery_pct,
            estimated_ms=spec.shard_size * spec.estimated_ms_per_item,
            attested_only=spec.attested_only,
            authorities=frozenset(self.config.trusted_authorities),
        )
        capacity = Capacity(
            self.config.max_in_flight_per_node,
            job_share_cap(spec.max_node_share, len(plan.shards) * spec.replicas),
        )
        capacity.assigned.update(self.journal.assignment_counts(plan.job_id.hex()))
        emit = on_event if on_event is not None else _silent
        coordinator = ShardCoordinator(
            self.host,
            self.peers,
            plan,
            needs,
            capacity,
            self._rng,
            self.config.timeouts,
            emit=emit,
            on_replica_done=self._journal_replica(plan.job_id.hex()),
        )
        runner = JobRunner(plan, spec, model, coordinator, self.journal, self._rng, emit, on_shard)
        outcome = await runner.run()
        return JobResult(plan, spec, model, outcome, time.monotonic() - started)

    def _journal_replica(self, job_id: str) -> ReplicaSink:
        def record(shard: int, replica: Replica) -> None:
            self.journal.record_assignment(
                job_id,
                shard,
                replica.node_key,
                replica.advert.advert.owner,
                replica.outcome.value,
                replica.detail,
                replica.commit.output_hash if replica.commit else None,
            )

        return record


def _with_known_answers(plan: JobPlan, model: Runner) -> JobPlan:
    """Canaries: the submitter computes their answers itself (on its own input variants)."""
    shards = tuple(
        ShardPlan(
            s.index,
            s.names,
            s.input_bytes,
            True,
            hashlib.sha256(model.run_bytes(s.input_bytes)).digest(),
        )
        if s.canary
        else s
        for s in plan.shards
    )
    return JobPlan(plan.manifest, shards)


@asynccontextmanager
async def open_client(config: ClientConfig) -> AsyncIterator[Client]:
    identity = load_or_create_key_file(config.key_path)
    store = ModelStore(config.data_dir / "models")
    journal = Journal(config.journal_path)
    host_config = HostConfig(
        seed=identity.seed, listen_addrs=config.listen, bootstrap=config.bootstrap
    )
    try:
        async with open_host(host_config) as host:
            client = Client(config, identity, host, store, journal)
            async with trio.open_nursery() as nursery:
                await nursery.start(client.peers.follow, list(config.regions))
                try:
                    yield client
                finally:
                    nursery.cancel_scope.cancel()
    finally:
        journal.close()
