"""Circuit relay v2 (py-libp2p `relay.circuit_v2`): serve as a relay, or be reachable via one.

Theory of operation. Every host with relaying enabled runs a
`CircuitV2Protocol` (the `/stop` side, so it can accept relayed connections;
plus `/hop` with resource limits when `relay_service` is on) and a
`CircuitV2Transport` to dial `/p2p-circuit` addresses, which py-libp2p's
swarm skips. For each configured relay a keeper task connects (jittered
backoff, lifting the 60 s negative dial cache), reserves a slot at once
(py-libp2p's own relay discovery would only scan every 300 s), then waits for
the connection to drop and starts over. While a reservation holds, the host
is reachable at `<relay addr>/p2p/<relay id>/p2p-circuit/p2p/<self>`, which
`FleetHost.reachable_addrs()` reports and adverts carry.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import multiaddr
import trio
from libp2p.peer.id import ID
from libp2p.relay.circuit_v2.config import RelayConfig, RelayRole
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_PROTOCOL
from libp2p.relay.circuit_v2.protocol import CircuitV2Protocol
from libp2p.relay.circuit_v2.resources import RelayLimits
from libp2p.relay.circuit_v2.transport import CircuitV2Transport

from p2pfleet.core.backoff import Backoff
from p2pfleet.net.addresses import parse_peer_addr
from p2pfleet.net.error_mapping import reraise_if_not_error
from p2pfleet.net.errors import DialError, describe
from p2pfleet.net.identity import parse_peer_id

if TYPE_CHECKING:
    from p2pfleet.net.host import FleetHost

logger = logging.getLogger(__name__)

CHECK_INTERVAL = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayServiceLimits:
    """What a relay grants (HostConfig.relay_limits): a relay serves a few NATed peers."""

    max_reservations: int = 64
    max_circuits: int = 32
    circuit_duration_s: int = 600
    circuit_bytes: int = 64 * 1024 * 1024
    reservation_ttl_s: int = 3600

    def __post_init__(self) -> None:
        if (
            min(
                self.max_reservations,
                self.max_circuits,
                self.circuit_duration_s,
                self.circuit_bytes,
                self.reservation_ttl_s,
            )
            < 1
        ):
            raise ValueError("relay limits must all be >= 1")

    def to_libp2p(self) -> RelayLimits:
        return RelayLimits(
            duration=self.circuit_duration_s,
            data=self.circuit_bytes,
            max_circuit_conns=self.max_circuits,
            max_reservations=self.max_reservations,
            reservation_ttl=self.reservation_ttl_s,
        )


def is_circuit_addr(addr: str) -> bool:
    return "/p2p-circuit" in addr


def parse_circuit_addr(addr: str) -> str:
    """The target peer id of `<relay addr>/p2p/<relay>/p2p-circuit/p2p/<target>`."""
    relay_part, sep, target = addr.partition("/p2p-circuit/p2p/")
    if not sep or "/" in target:
        raise ValueError(f"{addr!r} is not a circuit address like <relay>/p2p-circuit/p2p/<id>")
    parse_peer_addr(relay_part)  # ValueError unless a dialable relay address with its id
    parse_peer_id(target)
    return target


class RelayNode:
    """The circuit relay side of one host; built by the host when relaying is configured."""

    def __init__(self, libp2p_host: Any, *, serve: bool, limits: RelayServiceLimits) -> None:
        self._host = libp2p_host
        roles = RelayRole.STOP | RelayRole.CLIENT | (RelayRole.HOP if serve else RelayRole(0))
        relay_limits = limits.to_libp2p()
        self.protocol = CircuitV2Protocol(libp2p_host, limits=relay_limits, allow_hop=serve)
        self.transport = CircuitV2Transport(
            libp2p_host, self.protocol, RelayConfig(roles=roles, limits=relay_limits)
        )
        self.serving = serve
        self.refused_reservations = 0  # attempts that reached a relay and were turned down
        self._reserved: dict[str, str] = {}  # relay peer id -> relay transport addr
        self._changed = trio.Event()

    def circuit_addrs(self) -> list[str]:
        """This host's circuit addresses (without its own /p2p/ suffix), one per reservation."""
        return [
            f"{transport}/p2p/{relay}/p2p-circuit" for relay, transport in self._reserved.items()
        ]

    async def wait_changed(self) -> None:
        await self._changed.wait()

    async def wait_reserved(self, count: int = 1) -> list[str]:
        while len(self._reserved) < count:
            await self._changed.wait()
        return self.circuit_addrs()

    async def dial(self, circuit_addr: str) -> str:
        """Connect to the peer a full circuit address names; return its peer id."""
        target = parse_circuit_addr(circuit_addr)
        if target == str(self._host.get_id().to_base58()):
            raise ValueError(f"{circuit_addr} is this host's own address")
        try:
            conn = await self.transport.dial(multiaddr.Multiaddr(circuit_addr))
        except BaseException as exc:
            reraise_if_not_error(exc)
            raise DialError(
                f"could not reach {circuit_addr} through its relay: {describe(exc)}. "
                "Check that the relay runs, serves circuit relay v2, and that the "
                "target holds a reservation on it."
            ) from exc
        return str(conn.muxed_conn.peer_id.to_base58())

    async def keep_reservation(
        self, fleet_host: FleetHost, relay_addr: str, policy: Backoff, nursery: trio.Nursery
    ) -> None:
        """Stay connected to the relay at `relay_addr` and hold a reservation on it."""
        info = parse_peer_addr(relay_addr)
        relay_id = str(info.peer_id.to_base58())
        transport_addr = relay_addr.split("/p2p/")[0]
        rng = random.Random()
        attempt = 0
        while True:
            if await self._reserve_once(fleet_host, relay_addr, info.peer_id, nursery):
                attempt = 0
                self._set_reserved(relay_id, transport_addr)
                logger.info("reserved a relay slot on %s", relay_id)
                while relay_id in fleet_host.connected_peers():  # noqa: ASYNC110
                    await trio.sleep(CHECK_INTERVAL)
                self._set_reserved(relay_id, None)
                logger.info("lost relay %s; reserving again", relay_id)
            await trio.sleep(policy.delay(attempt, rng))
            attempt += 1

    async def _reserve_once(
        self, fleet_host: FleetHost, relay_addr: str, relay: ID, nursery: trio.Nursery
    ) -> bool:
        try:
            with trio.fail_after(10.0):
                await fleet_host.connect(relay_addr)
                stream = await self._host.new_stream(relay, [HOP_PROTOCOL])
                try:
                    reserved = bool(await self.transport.reserve(stream, relay, nursery))
                finally:
                    await stream.close()
            if not reserved:
                self.refused_reservations += 1
                logger.warning("relay %s refused a reservation (at its limit?)", relay_addr)
            return reserved
        except BaseException as exc:
            reraise_if_not_error(exc)
            logger.warning("relay reservation on %s failed: %s", relay_addr, describe(exc))
            return False

    def _set_reserved(self, relay_id: str, transport_addr: str | None) -> None:
        if transport_addr is None:
            self._reserved.pop(relay_id, None)
        else:
            self._reserved[relay_id] = transport_addr
        self._changed.set()
        self._changed = trio.Event()
