"""The vehicle node: overlay member, advert publisher, task server.

`open_node(config)` is the Python API (trio style); `p2pfleet node` wraps it.
One owner-policy decision (core/policy.py) drives both the advert and the
admission of work. Driving always wins: a drive event cancels running shards
(each sends a signed abandon) before the driving advert goes out.
"""

from __future__ import annotations

import logging
import time
import zoneinfo
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import trio

from p2pfleet.core.advert import Advert, VehicleState, sign_advert
from p2pfleet.core.identity import Identity
from p2pfleet.core.policy import PolicyMemory, VehicleFacts, decide, stops_running_work
from p2pfleet.core.protocol_ids import TASK_PROTOCOL, advert_topic
from p2pfleet.core.status import STATUS_PROTOCOL
from p2pfleet.core.task_messages import RejectReason
from p2pfleet.inference.store import ModelStore
from p2pfleet.keys import load_or_create_key_file
from p2pfleet.net.host import FleetHost, HostConfig, open_host
from p2pfleet.node.config import NodeConfig
from p2pfleet.node.config_region_cert import region_cert_warnings
from p2pfleet.node.control import serve_endpoints
from p2pfleet.node.data_meter import DataMeter
from p2pfleet.node.executor import ShardExecutor
from p2pfleet.node.ledger import DaySummary, EnergyLedger
from p2pfleet.node.model_service import ModelService, fleet_providers
from p2pfleet.node.public_status import PublicStatus
from p2pfleet.node.task_server import TaskServer
from p2pfleet.node.vehicle import (
    Link,
    SimulatedVehicle,
    SimulatedVehicleConfig,
    VehicleAdapter,
)
from p2pfleet.node.vehicle_json import JsonVehicle
from p2pfleet.node.worker_pool import WorkerLimits, WorkerPool
from p2pfleet.peerview import PeerView, now_ms
from p2pfleet.testing.faults import with_fault

log = logging.getLogger("p2pfleet.node")

ABANDON_SEND_WAIT_S = 3.0


@dataclass(frozen=True, slots=True)
class NodeStatus:
    peer_id: str
    addrs: tuple[str, ...]
    region: str
    state: str
    battery_pct: int
    plugged_in: bool
    link: str
    temperature_c: float | None
    departure_ms: int | None
    accepting: bool
    refusal: str | None  # the owner-policy reason work is refused now
    draining: bool
    connected_peers: int
    known_adverts: int
    running_tasks: int
    max_concurrent_tasks: int
    tasks_today: int
    tasks_completed_today: int
    energy_today_wh: float
    energy_budget_wh: int
    cellular_mb_today: float
    cellular_cap_mb: int | None
    model_mb_today: float  # model downloads and uploads, any link (cellular ones are counted above)
    adverts_published: int
    uptime_s: float

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["addrs"] = list(self.addrs)
        return doc


class Node:
    def __init__(
        self,
        config: NodeConfig,
        identity: Identity,
        host: FleetHost,
        vehicle: VehicleAdapter,
        executor: ShardExecutor,
        ledger: EnergyLedger,
        store: ModelStore,
    ) -> None:
        self.config = config
        self.identity = identity
        self.host = host
        self.vehicle = vehicle
        self.executor = executor
        self.ledger = ledger
        self.store = store
        self.peers = PeerView(host)
        self.tasks = TaskServer(
            identity, executor, ledger, self.policy_refusal, config, on_cellular=self._on_cellular
        )
        self._zone = zoneinfo.ZoneInfo(config.policy.timezone)
        meter = DataMeter(ledger, config.policy, self._on_cellular)
        self.models = ModelService(store, host, fleet_providers(self.peers, host), meter=meter)
        self.tasks.fetch_missing_model = self.models.ensure
        self.tasks.runtime_refusal = self.models.runtime_refusal
        self._seq = now_ms()  # monotonic across restarts without storing state
        self._memory = PolicyMemory()
        self._started = time.monotonic()
        self.draining = False
        self.adverts_published = 0
        self.preemptions = 0
        self.control_url: str | None = None
        self.metrics_url: str | None = None

    @property
    def peer_id(self) -> str:
        return self.host.peer_id

    def _on_cellular(self) -> bool:
        return self.vehicle.status.link is Link.CELLULAR

    def _today(self) -> DaySummary:
        return self.ledger.today_in(self._zone)

    def _facts(self) -> VehicleFacts:
        status = self.vehicle.status
        today = self._today()
        local = datetime.now(self._zone)
        return VehicleFacts(
            state=status.state,
            battery_pct=status.battery_pct,
            plugged_in=status.plugged_in,
            energy_used_today_wh=today.energy_wh,
            running_tasks=self.tasks.running,
            temperature_c=status.temperature_c,
            on_cellular=status.link is Link.CELLULAR,
            cellular_bytes_today=today.cellular_bytes,
            local_minute=local.hour * 60 + local.minute,
        )

    def policy_refusal(self, facts: VehicleFacts | None = None) -> RejectReason | None:
        """The owner's policy now; one set of hysteresis latches for adverts and admission."""
        decision = decide(self.config.policy, facts or self._facts(), self._memory)
        self._memory = decision.memory
        if self.draining:
            return RejectReason.SHUTTING_DOWN
        return decision.reason

    def current_advert(self) -> Advert:
        facts = self._facts()
        reason = self.policy_refusal(facts)
        status = self.vehicle.status
        free = self.config.policy.max_concurrent_tasks - facts.running_tasks
        self._seq = max(self._seq + 1, now_ms())
        return Advert(
            owner=self.config.owner or self.identity.public_key,
            seq=self._seq,
            issued_at_ms=now_ms(),
            ttl_ms=int(self.config.advert_ttl_s * 1000),
            state=VehicleState.OFFLINE if self.draining else status.state,
            battery_pct=status.battery_pct,
            departure_ms=status.departure_ms,
            tier_watts=self.config.tier_watts,
            free_slots=max(0, free) if reason is None else 0,
            energy_left_wh=max(
                0, int(self.config.policy.daily_energy_budget_wh - facts.energy_used_today_wh)
            ),
            models=tuple(bytes.fromhex(h) for h in sorted(self.store.hashes())[:8]),
            region=self.config.region,
            region_cert=self.config.region_cert,
            addrs=tuple(_strip_p2p(a) for a in self.host.reachable_addrs()[:4]),
        )

    async def publish_advert(self) -> None:
        signed = sign_advert(self.identity, self.current_advert())
        self.peers.offer(signed.wire)
        await self.host.publish(advert_topic(self.config.region), signed.wire)
        self.adverts_published += 1

    async def _publish_quietly(self) -> None:
        try:
            await self.publish_advert()
        except Exception:  # a failed publish must not stop the node
            log.exception("advert publish failed; retrying at the next heartbeat")

    async def _heartbeat_loop(self) -> None:
        while True:
            await self._publish_quietly()
            await trio.sleep(self.config.advert_interval_s)

    async def _vehicle_loop(self) -> None:
        """Driving always wins: cancel running shards first, then advertise the change.

        Overheating, a battery below the owner's floor and a disabled policy
        stop running work too (`stops_running_work`); hours, budgets and caps
        let a running shard finish.

        Other changes (battery, temperature) are advertised at once only when
        they change the state or the policy decision; otherwise the heartbeat
        carries them, so a chatty car integration cannot flood the topic.
        """
        advertised = (self.vehicle.status.state, self.policy_refusal())
        while True:
            status = await self.vehicle.wait_changed()
            reason = self.policy_refusal()
            if reason is not None and self.tasks.running and stops_running_work(reason):
                self.preemptions += 1
                log.info(
                    "%s: abandoning %d running shard(s)",
                    reason.value,
                    self.tasks.running,
                    extra={
                        "event": "node.preempted",
                        "reason": reason.value,
                        "running": self.tasks.running,
                    },
                )
                self.tasks.preempt_all(reason)
            if (status.state, reason) != advertised:
                advertised = (status.state, reason)
                await self._publish_quietly()

    async def _address_change_loop(self) -> None:
        """Re-advertise when a relay reservation is won or lost (the advert's addrs change)."""
        while True:
            await self.host.wait_reachable_changed()
            await self._publish_quietly()

    async def _task_change_loop(self) -> None:
        """Re-advertise when slots fill or free up; tell the vehicle model the compute load."""
        while True:
            await self.tasks.wait_changed()
            running = self.tasks.running
            self.vehicle.report_compute_watts(self.config.tier_watts if running else 0.0)
            await self._publish_quietly()

    async def drain(self, grace_s: float) -> bool:
        """Stop taking work, let running work finish for `grace_s`, then abandon the rest.

        Returns True if everything finished within the grace period.
        """
        self.draining = True
        log.info(
            "draining: %d task(s) in progress, grace period %g s",
            self.tasks.active,
            grace_s,
            extra={"event": "node.draining", "active": self.tasks.active, "grace_s": grace_s},
        )
        await self._publish_quietly()
        with trio.move_on_after(grace_s):
            await self.tasks.wait_idle()
            return True
        self.tasks.preempt_all(RejectReason.SHUTTING_DOWN)
        with trio.move_on_after(ABANDON_SEND_WAIT_S):
            while self.tasks.running:
                await self.tasks.wait_changed()
        return False

    def status(self) -> NodeStatus:
        today = self._today()
        vehicle = self.vehicle.status
        policy = self.config.policy
        reason = self.policy_refusal()
        return NodeStatus(
            peer_id=self.peer_id,
            addrs=tuple(self.host.listen_addrs()),
            region=self.config.region,
            state=vehicle.state.value,
            battery_pct=vehicle.battery_pct,
            plugged_in=vehicle.plugged_in,
            link=vehicle.link.value,
            temperature_c=vehicle.temperature_c,
            departure_ms=vehicle.departure_ms,
            accepting=reason is None,
            refusal=None if reason is None else reason.value,
            draining=self.draining,
            connected_peers=len(self.host.connected_peers()),
            known_adverts=len(self.peers.live()),
            running_tasks=self.tasks.running,
            max_concurrent_tasks=policy.max_concurrent_tasks,
            tasks_today=today.tasks,
            tasks_completed_today=today.completed,
            energy_today_wh=round(today.energy_wh, 4),
            energy_budget_wh=policy.daily_energy_budget_wh,
            cellular_mb_today=round(today.cellular_bytes / 1_000_000, 3),
            cellular_cap_mb=policy.daily_cellular_data_mb,
            model_mb_today=round(today.model_bytes / 1_000_000, 3),
            adverts_published=self.adverts_published,
            uptime_s=round(time.monotonic() - self._started, 1),
        )


def _strip_p2p(addr: str) -> str:
    return addr.rsplit("/p2p/", 1)[0]  # the node's own id; a circuit keeps its relay's


def make_vehicle(config: NodeConfig) -> VehicleAdapter:
    if isinstance(config.vehicle, SimulatedVehicleConfig):
        return SimulatedVehicle(config.vehicle)
    return JsonVehicle(config.vehicle)


def make_executor(config: NodeConfig, store: ModelStore) -> WorkerPool:
    limits = WorkerLimits(
        slots=config.policy.max_concurrent_tasks,
        time_limit_s=config.task_time_limit_s,
        memory_mb=config.worker_memory_mb,
    )
    return WorkerPool(store, limits)


@asynccontextmanager
async def open_node(
    config: NodeConfig,
    *,
    vehicle: VehicleAdapter | None = None,
    executor: ShardExecutor | None = None,
) -> AsyncIterator[Node]:
    """Run a node until the block exits: listening, advertising and serving tasks."""
    identity = load_or_create_key_file(config.key_path)
    for warning in region_cert_warnings(config, identity.public_key, int(time.time())):
        log.warning("%s", warning, extra={"event": "node.region-cert"})
    store = ModelStore(config.models_dir, max_bytes=config.model_cache_bytes)
    pool = make_executor(config, store) if executor is None else None
    executor = with_fault(pool or executor or make_executor(config, store), config.inject_fault)
    ledger = EnergyLedger(config.ledger_path, tier_watts=config.tier_watts)
    vehicle = vehicle or make_vehicle(config)
    host_config = HostConfig(
        seed=identity.seed,
        listen_addrs=config.listen,
        bootstrap=config.bootstrap,
        **config.network.host_options(),
    )
    try:
        async with open_host(host_config) as host:
            node = Node(config, identity, host, vehicle, executor, ledger, store)
            host.set_handler(TASK_PROTOCOL, node.tasks.serve)
            host.set_handler(ModelService.protocol_id, node.models.serve)
            host.set_handler(STATUS_PROTOCOL, PublicStatus(node).serve)
            async with trio.open_nursery() as nursery:
                await nursery.start(vehicle.run)
                await nursery.start(node.peers.follow, [config.region])
                await nursery.start(serve_endpoints, node)
                nursery.start_soon(node._heartbeat_loop)
                nursery.start_soon(node._vehicle_loop)
                nursery.start_soon(node._task_change_loop)
                nursery.start_soon(node.models.announce_stored)
                nursery.start_soon(node._address_change_loop)
                log.info(
                    "node %s listening on %s",
                    node.peer_id,
                    ", ".join(host.listen_addrs()),
                    extra={"event": "node.started", "peer_id": node.peer_id},
                )
                try:
                    yield node
                finally:
                    node.tasks.preempt_all(RejectReason.SHUTTING_DOWN)
                    nursery.cancel_scope.cancel()
    finally:
        if pool is not None:
            with trio.CancelScope(shield=True):
                await pool.aclose()
        config.control_file.unlink(missing_ok=True)
        ledger.close()
