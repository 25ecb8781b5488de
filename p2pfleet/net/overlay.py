"""Overlay membership for a running host: reconnects, Kademlia DHT, circuit relay.

`build_overlay` is called once by `open_host` after the libp2p host runs. It
starts the relay protocol and the DHT as services on the host's exit stack
(so they stop only after the host is closed, pitfall 3), guards their
libp2p stream handlers like p2pfleet's own (an exception costs one reset
stream, never the host, pitfall 1). `Overlay.start` then dials the
bootstrap peers and leaves keeper tasks in the host's nursery: bootstrap reconnects, relay
reservations, DHT discovery.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio
from libp2p.tools.anyio_service import background_trio_service

from p2pfleet.net.dht import DhtNode, resolve_mode
from p2pfleet.net.guard import Counters, guard_libp2p_handler
from p2pfleet.net.reconnect import Reconnector, ReconnectStatistics
from p2pfleet.net.relay import RelayNode

if TYPE_CHECKING:
    from p2pfleet.net.host import FleetHost, HostConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class OverlayStatistics:
    dht_mode: str | None  # "server", "client", or None when the DHT is off
    dht_routing_peers: int
    dht_rounds: int
    relay_service: bool
    relay_addrs: tuple[str, ...]  # this host's circuit addresses (reservations held)
    reconnect: ReconnectStatistics | None


@dataclass(slots=True)
class Overlay:
    dht: DhtNode | None = None
    relay: RelayNode | None = None
    reconnector: Reconnector | None = None

    def statistics(self) -> OverlayStatistics:
        dht, relay = self.dht, self.relay
        return OverlayStatistics(
            dht_mode=dht.mode.value.lower() if dht is not None else None,
            dht_routing_peers=dht.kad.routing_table.size() if dht is not None else 0,
            dht_rounds=dht.rounds if dht is not None else 0,
            relay_service=relay is not None and relay.serving,
            relay_addrs=tuple(relay.circuit_addrs()) if relay is not None else (),
            reconnect=self.reconnector.statistics() if self.reconnector is not None else None,
        )

    async def start(self, host: FleetHost, cfg: HostConfig, nursery: trio.Nursery) -> None:
        """Dial the bootstrap peers; leave reconnect, relay and discovery keepers running."""
        self.reconnector = Reconnector(host, cfg.reconnect, dial_timeout=cfg.dial_timeout)
        await self.reconnector.start(cfg.bootstrap, nursery)
        if self.relay is not None:
            for addr in cfg.relays:
                nursery.start_soon(self.relay.keep_reservation, host, addr, cfg.reconnect, nursery)
        if self.dht is not None:
            nursery.start_soon(self.dht.run_discovery, host, cfg.discovery_interval)


async def build_overlay(
    libp2p_host: Any, cfg: HostConfig, services: AsyncExitStack, counters: Counters
) -> Overlay:
    """Start the relay protocol and the DHT as services on `services`; guard libp2p's handlers.

    Call before opening the host's nursery: the services' own nurseries must
    nest outside it.
    """
    overlay = Overlay()
    # Every host can dial circuit addresses and accept relayed connections
    # (/stop); only a relay service also serves /hop.
    overlay.relay = RelayNode(libp2p_host, serve=cfg.relay_service, limits=cfg.relay_limits)
    await services.enter_async_context(background_trio_service(overlay.relay.protocol))
    await overlay.relay.protocol.event_started.wait()
    listening = [str(a) for a in libp2p_host.get_transport_addrs()]
    mode = resolve_mode(cfg.dht_mode, listening)
    if mode is not None:
        overlay.dht = DhtNode(libp2p_host, mode, low_watermark=cfg.low_watermark)
        await services.enter_async_context(background_trio_service(overlay.dht.kad))
    # Every handler so far is libp2p's own (identify, ping, pubsub, DHT, relay).
    for protocol_id in list(libp2p_host.get_mux().handlers):
        if protocol_id is not None:
            guard_libp2p_handler(libp2p_host, protocol_id, counters)
    return overlay
