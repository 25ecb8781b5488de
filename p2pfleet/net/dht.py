"""Kademlia DHT (py-libp2p `KadDHT`): provider records, peer lookup, peer discovery.

Theory of operation. `DhtMode.AUTO` picks server mode when the host has a
directly reachable (non-relay) listen address and client mode otherwise: a
client queries the DHT but does not serve it, so a vehicle behind carrier NAT
never advertises itself as a routing hop nobody can reach. Keys are
namespaced (`/p2pfleet/providers/<key>`) so p2pfleet records never mix with
anything else spoken over `/ipfs/kad/1.0.0`, and the value store runs with
`strict_validation`: only namespaces with a registered validator (the `pk`
default) are stored, everything else is refused.

py-libp2p only adds a peer to the routing table when that peer opens a DHT
stream to us or shows up in a lookup; `discovery_round` also offers every
connected peer, then does a self-lookup plus a random-key walk, and finally
dials routing-table peers until the host has `low_watermark` connections.
`run_discovery` repeats that every `interval` seconds.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import trio
from libp2p.kad_dht.kad_dht import DHTMode, KadDHT
from libp2p.peer.id import ID
from libp2p.records.pubkey import PublicKeyValidator
from libp2p.records.validator import NamespacedValidator

from p2pfleet.net.error_mapping import reraise_if_not_error
from p2pfleet.net.errors import DialError, NetError, describe

if TYPE_CHECKING:
    from p2pfleet.net.host import FleetHost

logger = logging.getLogger(__name__)

PROVIDER_NAMESPACE = b"/p2pfleet/providers/"
MAX_KEY_SIZE = 256
DEFAULT_DISCOVERY_INTERVAL = 30.0


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """A DHT provider of a key: its peer id and full (`.../p2p/<id>`) addresses."""

    peer_id: str
    addrs: tuple[str, ...]


class DhtMode(StrEnum):
    AUTO = "auto"
    SERVER = "server"
    CLIENT = "client"
    OFF = "off"


def resolve_mode(mode: DhtMode | str, listen_addrs: list[str]) -> DHTMode | None:
    """The libp2p mode for `mode` given the host's listen addresses; None when off."""
    mode = DhtMode(mode)
    if mode is DhtMode.OFF:
        return None
    if mode is DhtMode.SERVER:
        return DHTMode.SERVER
    if mode is DhtMode.CLIENT:
        return DHTMode.CLIENT
    direct = [a for a in listen_addrs if "/p2p-circuit" not in a]
    return DHTMode.SERVER if direct else DHTMode.CLIENT


def provider_key(key: bytes) -> bytes:
    if not isinstance(key, bytes) or not 0 < len(key) <= MAX_KEY_SIZE:
        raise ValueError(f"a DHT key is 1..{MAX_KEY_SIZE} bytes")
    return PROVIDER_NAMESPACE + key


class DhtNode:
    """One host's DHT participation; built by the host, used through FleetHost.dht_*."""

    def __init__(self, libp2p_host: Any, mode: DHTMode, *, low_watermark: int) -> None:
        self._host = libp2p_host
        self._low_watermark = low_watermark
        validator = NamespacedValidator({"pk": PublicKeyValidator()}, strict_validation=True)
        self.kad = KadDHT(
            libp2p_host,
            mode,
            validator=validator,
            validator_changed=True,
            strict_validation=True,
        )
        self.mode = mode
        self.rounds = 0

    async def provide(self, key: bytes) -> None:
        namespaced = provider_key(key)  # ValueError for a bad key, before any I/O
        try:
            stored = await self.kad.provider_store.provide(namespaced)
        except BaseException as exc:
            reraise_if_not_error(exc)
            raise NetError(f"DHT provide failed: {describe(exc)}") from exc
        if not stored:
            raise NetError("DHT provide reached no peer: connect to at least one DHT server first")

    async def find_providers(self, key: bytes, *, limit: int) -> list[ProviderRecord]:
        """Up to `limit` providers, each peer once."""
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        namespaced = provider_key(key)
        try:
            infos = await self.kad.provider_store.find_providers(namespaced, limit)
        except BaseException as exc:
            reraise_if_not_error(exc)
            raise NetError(f"DHT provider lookup failed: {describe(exc)}") from exc
        found: dict[str, list[str]] = {}
        for info in infos:  # py-libp2p returns a provider once per peer that knew it
            peer_id = str(info.peer_id.to_base58())
            addrs = found.setdefault(peer_id, [])
            addrs.extend(a for a in _full_addrs(peer_id, info.addrs) if a not in addrs)
        return [ProviderRecord(peer, tuple(addrs)) for peer, addrs in found.items()][:limit]

    async def find_peer(self, peer_id: ID) -> list[str]:
        """Full addresses of `peer_id` (empty if the DHT does not know it)."""
        try:
            info = await self.kad.find_peer(peer_id)
        except BaseException as exc:
            reraise_if_not_error(exc)
            raise NetError(f"DHT peer lookup failed: {describe(exc)}") from exc
        return [] if info is None else _full_addrs(str(peer_id.to_base58()), info.addrs)

    async def run_discovery(self, fleet_host: FleetHost, interval: float) -> None:
        """`discovery_round` every `interval` seconds; a failed round is logged, not fatal."""
        while True:
            try:
                await self.discovery_round(fleet_host)
            except Exception:
                logger.exception("DHT discovery round failed; trying again in %.0f s", interval)
            await trio.sleep(interval)

    async def discovery_round(self, fleet_host: FleetHost) -> None:
        """Offer connected peers to the table, walk the DHT, connect up to the low watermark."""
        self.rounds += 1
        table = self.kad.routing_table
        for peer in list(self._host.get_connected_peers()):
            if not table.peer_in_table(peer):
                await _quietly(self.kad.add_peer(peer), "adding a peer to the routing table")
        own = self._host.get_id().to_bytes()
        for target in (own, os.urandom(32)):
            await _quietly(self.kad.peer_routing.find_closest_peers_network(target), "a DHT walk")
        connected = set(self._host.get_connected_peers())
        for peer in table.get_peer_ids():
            if len(connected) >= self._low_watermark:
                break
            if peer in connected or peer == self._host.get_id():
                continue
            try:
                with trio.move_on_after(5.0):
                    await fleet_host.dial_peer(str(peer.to_base58()))
                    connected.add(peer)
            except (DialError, ValueError) as exc:  # ValueError: not an Ed25519 peer
                logger.debug("could not connect to discovered peer %s: %s", peer, exc)


def _full_addrs(peer_id: str, addrs: list[Any]) -> list[str]:
    """Dialable addresses, each ending in `/p2p/<peer_id>` exactly once."""
    suffix = f"/p2p/{peer_id}"
    return [str(a) if str(a).endswith(suffix) else f"{a}{suffix}" for a in addrs]


async def _quietly(call: Any, what: str) -> None:
    try:
        with trio.move_on_after(10.0):
            await call
    except BaseException as exc:
        reraise_if_not_error(exc)
        logger.debug("%s failed: %s", what, describe(exc))
