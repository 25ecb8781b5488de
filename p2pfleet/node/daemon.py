"""The vehicle node: overlay member, advert publisher, task server.

`open_node(config)` is the Python API (trio style); `p2pfleet node` wraps it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from p2pfleet.core.advert import Advert, VehicleState, sign_advert
from p2pfleet.core.identity import Identity
from p2pfleet.core.policy import VehicleFacts, battery_low, refusal
from p2pfleet.core.protocol_ids import TASK_PROTOCOL, advert_topic
from p2pfleet.core.task_messages import RejectReason
from p2pfleet.inference.store import ModelStore
from p2pfleet.keys import load_or_create_key_file
from p2pfleet.net.host import FleetHost, HostConfig, open_host
from p2pfleet.node.config import NodeConfig
from p2pfleet.node.executor import ModelExecutor, ShardExecutor
from p2pfleet.node.ledger import EnergyLedger
from p2pfleet.node.task_server import TaskServer
from p2pfleet.node.vehicle import SimulatedVehicle
from p2pfleet.peerview import PeerView, now_ms
from p2pfleet.testing.faults import with_fault

log = logging.getLogger("p2pfleet.node")


@dataclass(frozen=True, slots=True)
class NodeStatus:
    peer_id: str
    addrs: tuple[str, ...]
    state: str
    battery_pct: int
    connected_peers: int
    known_adverts: int
    running_tasks: int
    tasks_today: int
    energy_today_wh: float
    energy_budget_wh: int
    adverts_published: int


class Node:
    def __init__(
        self,
        config: NodeConfig,
        identity: Identity,
        host: FleetHost,
        vehicle: SimulatedVehicle,
        executor: ShardExecutor,
        ledger: EnergyLedger,
        store: ModelStore,
    ) -> None:
        self.config = config
        self.identity = identity
        self.host = host
        self.vehicle = vehicle
        self.ledger = ledger
        self.store = store
        self.peers = PeerView(host)
        self.tasks = TaskServer(identity, executor, ledger, self.policy_refusal, config)
        self._seq = now_ms()  # monotonic across restarts without storing state
        self._refusing_battery = False
        self.adverts_published = 0

    @property
    def peer_id(self) -> str:
        return self.host.peer_id

    def _facts(self) -> VehicleFacts:
        status = self.vehicle.status
        return VehicleFacts(
            state=status.state,
            battery_pct=status.battery_pct,
            plugged_in=status.plugged_in,
            energy_used_today_wh=self.ledger.today().energy_wh,
            running_tasks=self.tasks.running,
        )

    def policy_refusal(self, facts: VehicleFacts | None = None) -> RejectReason | None:
        """The owner's policy now; one hysteresis state for adverts and admission alike."""
        facts = facts or self._facts()
        was_low = self._refusing_battery
        policy = self.config.policy
        self._refusing_battery = battery_low(
            policy, facts.battery_pct, was_refusing_battery=was_low
        )
        return refusal(policy, facts, was_refusing_battery=was_low)

    def current_advert(self) -> Advert:
        facts = self._facts()
        reason = self.policy_refusal(facts)
        status = self.vehicle.status
        taking_work = reason is None
        free = self.config.policy.max_concurrent_tasks - facts.running_tasks if taking_work else 0
        self._seq = max(self._seq + 1, now_ms())
        return Advert(
            owner=self.config.owner or self.identity.public_key,
            seq=self._seq,
            issued_at_ms=now_ms(),
            ttl_ms=int(self.config.advert_ttl_s * 1000),
            state=status.state,
            battery_pct=status.battery_pct,
            departure_ms=status.departure_ms,
            tier_watts=self.config.tier_watts,
            free_slots=max(0, free),
            energy_left_wh=max(
                0, int(self.config.policy.daily_energy_budget_wh - facts.energy_used_today_wh)
            ),
            models=tuple(bytes.fromhex(h) for h in sorted(self.store.hashes())[:8]),
            region=self.config.region,
            region_cert=self.config.region_cert,
            addrs=tuple(_strip_p2p(a) for a in self.host.listen_addrs()[:4]),
        )

    async def publish_advert(self) -> None:
        signed = sign_advert(self.identity, self.current_advert())
        self.peers.offer(signed.wire)
        await self.host.publish(advert_topic(self.config.region), signed.wire)
        self.adverts_published += 1

    async def _advert_loop(self) -> None:
        """Publish on start, on every vehicle state change, and on a heartbeat."""
        while True:
            try:
                await self.publish_advert()
            except Exception:  # a failed publish must not stop the heartbeat
                log.exception("advert publish failed; retrying at the next heartbeat")
            with trio.move_on_after(self.config.advert_interval_s):
                status = await self.vehicle.wait_changed()
                if status.state is VehicleState.DRIVING:
                    self.tasks.preempt_all()

    async def _task_change_loop(self) -> None:
        """Re-advertise when slots fill or free up, so submitters see it quickly."""
        while True:
            await self.tasks.wait_changed()
            await self.publish_advert()

    def status(self) -> NodeStatus:
        today = self.ledger.today()
        vehicle = self.vehicle.status
        return NodeStatus(
            peer_id=self.peer_id,
            addrs=tuple(self.host.listen_addrs()),
            state=vehicle.state.value,
            battery_pct=vehicle.battery_pct,
            connected_peers=len(self.host.connected_peers()),
            known_adverts=len(self.peers.live()),
            running_tasks=self.tasks.running,
            tasks_today=today.tasks,
            energy_today_wh=round(today.energy_wh, 4),
            energy_budget_wh=self.config.policy.daily_energy_budget_wh,
            adverts_published=self.adverts_published,
        )


def _strip_p2p(addr: str) -> str:
    return addr.split("/p2p/")[0]


@asynccontextmanager
async def open_node(
    config: NodeConfig,
    *,
    vehicle: SimulatedVehicle | None = None,
    executor: ShardExecutor | None = None,
) -> AsyncIterator[Node]:
    """Run a node until the block exits: listening, advertising and serving tasks."""
    identity = load_or_create_key_file(config.key_path)
    store = ModelStore(config.models_dir)
    executor = with_fault(executor or ModelExecutor(store), config.inject_fault)
    ledger = EnergyLedger(config.ledger_path, tier_watts=config.tier_watts)
    vehicle = vehicle or SimulatedVehicle(config.vehicle)
    host_config = HostConfig(
        seed=identity.seed, listen_addrs=config.listen, bootstrap=config.bootstrap
    )
    try:
        async with open_host(host_config) as host:
            node = Node(config, identity, host, vehicle, executor, ledger, store)
            host.set_handler(TASK_PROTOCOL, node.tasks.serve)
            async with trio.open_nursery() as nursery:
                await nursery.start(node.peers.follow, [config.region])
                nursery.start_soon(node._advert_loop)
                nursery.start_soon(node._task_change_loop)
                log.info("node %s listening on %s", node.peer_id, ", ".join(host.listen_addrs()))
                try:
                    yield node
                finally:
                    node.tasks.preempt_all(reason_shutdown=True)
                    nursery.cancel_scope.cancel()
    finally:
        ledger.close()
