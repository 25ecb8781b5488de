"""FleetHost: a hardened py-libp2p host (TCP + Noise + Yamux, GossipSub).

Theory of operation. `open_host` builds a libp2p host that offers Noise only
(py-libp2p would also offer TLS, secio and plaintext) and Yamux only, runs it,
starts Pubsub/GossipSub, dials the bootstrap peers concurrently, then yields a
`FleetHost`. Every stream handler is guarded, so a failing handler costs one
reset stream, never the host (pitfall 1). On exit the host's connections are
closed concurrently and the host is closed explicitly, so the TCP listener is
really gone (pitfall 2), and this happens before the pubsub services stop
(pitfall 3). Errors leave as the typed errors of `p2pfleet.net.errors`, with
nested ExceptionGroups flattened (pitfall 6).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio
from libp2p import new_host
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig, RetryConfig
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.tools.anyio_service import background_trio_service

from p2pfleet.core.backoff import Backoff
from p2pfleet.net.addresses import (
    check_ports_free,
    check_protocol_id,
    parse_multiaddr,
    parse_peer_addr,
    split_peer_addrs,
)
from p2pfleet.net.dht import DEFAULT_DISCOVERY_INTERVAL, DhtMode, DhtNode, ProviderRecord
from p2pfleet.net.error_mapping import reraise_if_not_error, stream_open_error
from p2pfleet.net.errors import (
    DialError,
    NetError,
    describe,
    leaf_exceptions,
)
from p2pfleet.net.gossip import (
    GossipConfig,
    GossipHub,
    GossipStatistics,
    Subscription,
    build_pubsub,
)
from p2pfleet.net.guard import Counters, serve_guarded
from p2pfleet.net.guard import StreamHandler as StreamHandler
from p2pfleet.net.identity import (
    SEED_SIZE,
    key_pair_from_seed,
    noise_static_key_from_seed,
    parse_peer_id,
)
from p2pfleet.net.logs import quiet_libp2p_submodules
from p2pfleet.net.overlay import Overlay, OverlayStatistics, build_overlay
from p2pfleet.net.reconnect import connect_retrying
from p2pfleet.net.relay import RelayNode, RelayServiceLimits, is_circuit_addr
from p2pfleet.net.streams import FramedStream
from p2pfleet.net.teardown import close_libp2p_host, reset_quietly, stop_seen_cache_thread

logger = logging.getLogger(__name__)

PEER_POLL_INTERVAL = 0.05


@dataclass(frozen=True, slots=True)
class HostConfig:
    """How to run one host. `seed` is the node's secret identity (never logged).

    `dial_timeout` bounds each bootstrap dial in `open_host`; `dial_retries` is
    how often libp2p retries one address (with backoff) inside a dial.
    Connection limits: libp2p's connection manager dials peers it knows (from
    `add_peer_addrs`, identify, ...) while below `low_watermark`, aiming at
    the middle of the watermarks, and prunes above `high_watermark`. Its own
    defaults (100/300) suit a server, not a vehicle on a cellular link.
    Overlay (protocol/transport.md): bootstrap peers and relays are redialed
    on the `reconnect` schedule; `dht_mode` is auto | server | client | off;
    `relays` are full relay addresses to reserve a slot on (then
    `listen_addrs` may be empty); `relay_service` makes this host a relay.
    """

    seed: bytes = field(repr=False)
    listen_addrs: tuple[str, ...] = ("/ip4/127.0.0.1/tcp/0",)
    bootstrap: tuple[str, ...] = ()
    gossip: GossipConfig | None = field(default_factory=GossipConfig)
    dial_timeout: float = 10.0
    dial_retries: int = 1
    min_connections: int = 4
    low_watermark: int = 8
    high_watermark: int = 32
    max_connections: int = 128
    dht_mode: str = DhtMode.AUTO
    discovery_interval: float = DEFAULT_DISCOVERY_INTERVAL
    relays: tuple[str, ...] = ()
    relay_service: bool = False
    relay_limits: RelayServiceLimits = field(default_factory=RelayServiceLimits)
    reconnect: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, bytes) or len(self.seed) != SEED_SIZE:
            raise ValueError(f"HostConfig.seed must be {SEED_SIZE} bytes")
        if not self.listen_addrs and not self.relays:
            raise ValueError(
                "HostConfig.listen_addrs is empty: give at least one address, "
                "or relays to be reachable through"
            )
        for addr in self.listen_addrs:
            parse_multiaddr(addr)
        for addr in (*self.bootstrap, *self.relays):
            parse_peer_addr(addr)
        if self.dht_mode not in {m.value for m in DhtMode}:
            raise ValueError(
                f"HostConfig.dht_mode {self.dht_mode!r} is not one of auto, server, client, off"
            )
        if self.discovery_interval <= 0:
            raise ValueError("HostConfig.discovery_interval must be > 0 seconds")
        if self.dial_timeout <= 0 or self.dial_retries < 0:
            raise ValueError("HostConfig.dial_timeout must be > 0 and dial_retries >= 0")
        if not (
            0
            <= self.min_connections
            <= self.low_watermark
            <= self.high_watermark
            <= self.max_connections
        ):
            raise ValueError(
                "HostConfig connection limits must satisfy 0 <= min_connections <= "
                "low_watermark <= high_watermark <= max_connections"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class HostStatistics:
    peer_id: str
    listen_addrs: tuple[str, ...]
    connected_peers: int
    handlers: tuple[str, ...]
    topics: tuple[str, ...]
    streams_opened: int
    streams_accepted: int
    handler_errors: int
    frames_rejected: int
    gossip: GossipStatistics | None
    overlay: OverlayStatistics | None = None


class FleetHost:
    """A running host; obtain one from `open_host`. Peer ids are base58 strings."""

    peer_id: str

    def __init__(
        self, libp2p_host: Any, gossip: GossipHub | None, counters: Counters | None = None
    ) -> None:
        self._host = libp2p_host
        self._swarm = libp2p_host.get_network()
        self._gossip = gossip
        self._counters = counters or Counters()
        self._handlers: set[str] = set()
        self._closed = False
        self.peer_id = str(libp2p_host.get_id().to_base58())
        self.overlay: Overlay | None = None  # set by open_host
        self._circuit_addrs: dict[str, list[str]] = {}  # peer -> relay circuit addrs

    def __repr__(self) -> str:
        return f"<FleetHost {self.peer_id}>"

    # -- addresses and connections ------------------------------------------

    def listen_addrs(self) -> list[str]:
        """Dialable multiaddrs of this host, with real ports and `/p2p/<peer_id>`."""
        return [f"{addr}/p2p/{self.peer_id}" for addr in self._host.get_transport_addrs()]

    def reachable_addrs(self) -> list[str]:
        """One circuit address per relay reservation held, then `listen_addrs()`.

        Circuits come first: a host that holds reservations is most likely
        behind NAT, so its own listen addresses are the least reachable.
        """
        relay = self.overlay.relay if self.overlay is not None else None
        circuits = relay.circuit_addrs() if relay is not None else []
        return [f"{a}/p2p/{self.peer_id}" for a in circuits] + self.listen_addrs()

    def handled_protocols(self) -> list[str]:
        """Every protocol id this host answers streams for (its own and libp2p's)."""
        return sorted(str(p) for p in self._host.get_mux().handlers if p is not None)

    def connected_peers(self) -> list[str]:
        return sorted(
            str(peer.to_base58()) for peer, conns in self._swarm.connections.items() if conns
        )

    def add_peer_addrs(self, peer_id: str, addrs: Sequence[str]) -> None:
        """Teach the peerstore where `peer_id` listens (e.g. from a signed advert).

        Addresses may be given with or without a `/p2p/<peer_id>` suffix.
        Circuit addresses (`.../p2p/<relay>/p2p-circuit`) are kept for relay
        dialing. Any other address that is not `/ip4|ip6|dns*/<host>/tcp/<port>`,
        or that names another peer, is skipped (logged at debug): py-libp2p lets one junk
        address hide a peer's loopback and private addresses. Known addresses
        do not expire. A new address lifts libp2p's 60 s block on the peer
        after a failed dial (pitfall 7).
        """
        self._check_open()
        peer = parse_peer_id(peer_id)
        good, circuits = split_peer_addrs(peer_id, addrs)
        known_circuits = self._circuit_addrs.setdefault(peer_id, [])
        known_circuits.extend(c for c in circuits if c not in known_circuits)
        if not good:
            return
        peerstore = self._host.get_peerstore()
        try:
            known = {str(a) for a in peerstore.addrs(peer)}
        except Exception:  # PeerStoreError: peer unknown or its addresses expired
            known = set()
        peerstore.add_addrs(peer, good, 0)
        if any(str(a) not in known for a in good):
            self._swarm.unblock_peer(peer)  # new addresses: worth dialing again now

    async def connect(self, addr: str) -> str:
        """Dial a full multiaddr (`.../p2p/<peer id>`); return the peer id.

        ValueError for a malformed address; DialError when the peer cannot be
        reached or is not the peer the address names.
        """
        self._check_open()
        if is_circuit_addr(addr):
            return await self._relay_or_fail(addr).dial(addr)
        info = parse_peer_addr(addr)
        peer_id = str(info.peer_id.to_base58())
        if peer_id == self.peer_id:
            raise ValueError(f"{addr} is this host's own address")
        self._swarm.unblock_peer(info.peer_id)  # an explicit dial overrides the 60 s block
        try:
            await self._host.connect(info)
        except BaseException as exc:
            reraise_if_not_error(exc)
            raise DialError(
                f"could not connect to {peer_id} at {addr}: {describe(exc)}. "
                "Check that the peer runs and listens there, that the /p2p/ id is its "
                "identity, and that it speaks Noise + Yamux."
            ) from exc
        # host.connect() stores the address with a 120 s TTL; keep it instead.
        self._host.get_peerstore().add_addrs(info.peer_id, info.addrs, 0)
        return peer_id

    async def connect_retrying(
        self, addr: str, *, attempts: int = 5, first_delay: float = 0.5, max_delay: float = 8.0
    ) -> str:
        """`connect` with exponential backoff; the last DialError if all attempts fail.

        For peers that may not be up yet (a node starting before its bootstrap
        peer). Each attempt lifts libp2p's 60 s block on the peer.
        """
        policy = Backoff(initial=first_delay, cap=max(first_delay, max_delay), jitter=0.0)
        return await connect_retrying(self, addr, attempts=attempts, policy=policy)

    async def disconnect(self, peer_id: str) -> None:
        """Close every connection to `peer_id` (no error if there is none)."""
        self._check_open()
        try:
            await self._host.disconnect(parse_peer_id(peer_id))
        except BaseException as exc:
            reraise_if_not_error(exc)
            logger.debug("disconnecting %s: %s", peer_id, describe(exc))

    async def dial_peer(self, peer_id: str) -> None:
        """Connect to `peer_id` at its known addresses (DialError if none works)."""
        self._check_open()
        peer = parse_peer_id(peer_id)
        if not self._swarm.get_connections(peer):
            await self._dial_known(peer, peer_id)

    # -- DHT -----------------------------------------------------------------

    async def dht_provide(self, key: bytes) -> None:
        """Announce in the DHT that this host provides `key` (e.g. a model hash)."""
        await self._require_dht().provide(key)

    async def dht_find_providers(self, key: bytes, *, limit: int) -> list[ProviderRecord]:
        """Up to `limit` distinct providers of `key`; their addresses enter the peerstore."""
        records = await self._require_dht().find_providers(key, limit=limit)
        for record in records:
            if record.peer_id != self.peer_id:
                self.add_peer_addrs(record.peer_id, record.addrs)
        return records

    async def dht_find_peer(self, peer_id: str) -> list[str]:
        """Addresses of `peer_id` from the routing table, peerstore or a DHT lookup."""
        return await self._require_dht().find_peer(parse_peer_id(peer_id))

    async def wait_reachable_changed(self) -> list[str]:
        """Wait until `reachable_addrs()` changes (a relay slot won or lost); return it."""
        await self._relay_or_fail("").wait_changed()
        return self.reachable_addrs()

    async def wait_relay_reservations(self, count: int = 1) -> list[str]:
        """Wait until `count` relay slots are held; return `reachable_addrs()`."""
        await self._relay_or_fail("").wait_reserved(count)
        return self.reachable_addrs()

    # -- streams -------------------------------------------------------------

    def set_handler(self, protocol_id: str, handler: StreamHandler) -> None:
        """Serve inbound streams of `protocol_id` with `handler`.

        The handler owns the stream; it is closed when the handler returns.
        An exception escaping the handler is logged and counted, the stream is
        reset, and the host keeps serving; trio.Cancelled passes through.
        """
        self._check_open()
        check_protocol_id(protocol_id)

        async def guarded(net_stream: Any) -> None:
            await serve_guarded(net_stream, protocol_id, handler, self._counters)

        self._host.set_stream_handler(TProtocol(protocol_id), guarded)
        self._handlers.add(protocol_id)

    def remove_handler(self, protocol_id: str) -> None:
        self._check_open()
        self._host.remove_stream_handler(TProtocol(protocol_id))
        self._handlers.discard(protocol_id)

    async def open_stream(self, peer_id: str, protocol_id: str) -> FramedStream:
        """Open a framed stream to `peer_id`, dialing its known addresses if needed.

        DialError if the peer cannot be reached (learn its addresses first with
        `add_peer_addrs` or `connect`); ProtocolNegotiationError if it does not
        serve `protocol_id`.
        """
        self._check_open()
        check_protocol_id(protocol_id)
        peer = parse_peer_id(peer_id)
        if peer_id == self.peer_id:
            raise ValueError("cannot open a stream to this host itself")
        if not self._swarm.get_connections(peer):
            await self._dial_known(peer, peer_id)
        try:
            net_stream = await self._host.new_stream(peer, [TProtocol(protocol_id)])
        except BaseException as exc:
            reraise_if_not_error(exc)
            raise stream_open_error(exc, peer_id, protocol_id) from exc
        try:
            stream = FramedStream(
                net_stream, protocol_id, on_frame_rejected=self._counters.count_rejected_frame
            )
        except ValueError as exc:
            await reset_quietly(net_stream)
            raise NetError(f"refusing stream to {peer_id}: {exc}") from exc
        self._counters.streams_opened += 1
        return stream

    # -- gossip --------------------------------------------------------------

    async def publish(self, topic: str, data: bytes) -> None:
        """Sign and gossip `data` on `topic` (at most GossipConfig.max_message_size)."""
        await self._require_gossip().publish(topic, data)

    def subscribe(
        self, topic: str, *, include_own: bool = True
    ) -> AbstractAsyncContextManager[Subscription]:
        """Receive `topic`'s messages while the context is open.

            async with host.subscribe("p2pfleet/adverts/eu") as messages:
                async for message in messages:   # GossipMessage(topic, sender, data)
                    ...

        Any number of subscriptions, to the same or different topics, may be
        open at once; each has its own queue. Entering announces the
        subscription to connected peers; leaving unsubscribes (after the last
        local subscriber of the topic leaves). Messages this host publishes are
        delivered to its own subscribers unless `include_own=False`.
        """
        return self._require_gossip().subscribe(topic, include_own=include_own)

    def gossip_peers(self, topic: str) -> list[str]:
        """Peers a publish on `topic` would go to now (mesh, else known subscribers)."""
        return self._require_gossip().topic_peers(topic)

    async def wait_gossip_peers(self, topic: str, count: int) -> list[str]:
        """Wait until at least `count` peers are in `gossip_peers(topic)`.

        Use before a first publish: GossipSub only sends to peers whose
        subscription it has heard of. Bound it with trio.fail_after.
        """
        gossip = self._require_gossip()
        return await _poll_until(lambda: gossip.topic_peers(topic), count)

    async def wait_connected(self, count: int) -> list[str]:
        """Wait until at least `count` peers are connected; bound it with fail_after."""
        return await _poll_until(self.connected_peers, count)

    def statistics(self) -> HostStatistics:
        gossip = self._gossip.statistics() if self._gossip is not None else None
        return HostStatistics(
            peer_id=self.peer_id,
            listen_addrs=tuple(self.listen_addrs()) if not self._closed else (),
            connected_peers=len(self.connected_peers()),
            handlers=tuple(sorted(self._handlers)),
            topics=gossip.topics if gossip is not None else (),
            streams_opened=self._counters.streams_opened,
            streams_accepted=self._counters.streams_accepted,
            handler_errors=self._counters.handler_errors,
            frames_rejected=self._counters.frames_rejected,
            gossip=gossip,
            overlay=self.overlay.statistics() if self.overlay is not None else None,
        )

    # -- internals -----------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise NetError(f"host {self.peer_id} is closed")

    def _require_dht(self) -> DhtNode:
        self._check_open()
        if self.overlay is None or self.overlay.dht is None:
            raise NetError("the DHT is off on this host (HostConfig.dht_mode is 'off')")
        return self.overlay.dht

    def _relay_or_fail(self, addr: str) -> RelayNode:
        if self.overlay is None or self.overlay.relay is None:
            raise DialError(
                f"cannot dial {addr or 'through a relay'}: circuit relay is off on this host "
                "(set HostConfig.relays or relay_service)"
            )
        return self.overlay.relay

    async def _dial_circuits(self, peer_id: str) -> None:
        failures = []
        for circuit in self._circuit_addrs[peer_id]:
            try:
                await self.connect(f"{circuit}/p2p/{peer_id}")
                return
            except DialError as exc:
                failures.append(str(exc))
        raise DialError(f"no relay reached {peer_id}: {'; '.join(failures)}")

    def _require_gossip(self) -> GossipHub:
        self._check_open()
        if self._gossip is None:
            raise NetError("gossip is disabled on this host (HostConfig.gossip is None)")
        return self._gossip

    async def _dial_known(self, peer: Any, peer_id: str) -> None:
        try:
            tried = [str(a) for a in self._host.get_peerstore().addrs(peer)]
        except Exception:
            tried = []
        if not tried and self._circuit_addrs.get(peer_id):
            await self._dial_circuits(peer_id)
            return
        if not tried:
            raise DialError(
                f"no known address for peer {peer_id}: learn it first with "
                "add_peer_addrs() or connect()"
            )
        try:
            await self._swarm.dial_peer(peer)
        except BaseException as exc:
            reraise_if_not_error(exc)
            if self._circuit_addrs.get(peer_id):  # direct addresses failed: try its relays
                await self._dial_circuits(peer_id)
                return
            raise DialError(
                f"could not reach peer {peer_id} at {', '.join(tried)}: {describe(exc)}. "
                "Check the peer is up and the addresses are current; after a failed dial "
                "libp2p refuses the peer for 60 s unless new addresses are added."
            ) from exc


@asynccontextmanager
async def open_host(cfg: HostConfig) -> AsyncIterator[FleetHost]:
    """Run a host for the duration of the context; see the module docstring.

    Bootstrap peers are dialed concurrently, each bounded by
    `cfg.dial_timeout`; failures are logged and not fatal. Call
    `configure_logging` first. An exception from the body leaves unwrapped
    when it is the only one (no ExceptionGroup around it).
    """
    unwrapped: BaseException | None = None
    try:
        async with _running_host(cfg) as host:
            yield host
    except BaseExceptionGroup as group:
        leaves = leaf_exceptions(group)
        if len(leaves) != 1:
            raise
        unwrapped = leaves[0]
    if unwrapped is not None:
        raise unwrapped


@asynccontextmanager
async def _running_host(cfg: HostConfig) -> AsyncIterator[FleetHost]:
    quiet_libp2p_submodules()
    key_pair = key_pair_from_seed(cfg.seed)
    listen = [parse_multiaddr(a) for a in cfg.listen_addrs]
    await check_ports_free(listen)
    libp2p_host = new_host(
        key_pair=key_pair,
        sec_opt={
            NOISE_PROTOCOL_ID: NoiseTransport(
                key_pair, noise_privkey=noise_static_key_from_seed(cfg.seed)
            )
        },
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
        connection_config=ConnectionConfig(
            max_connections_per_peer=1,  # ~10 ms connects instead of a 250 ms wait
            min_connections=cfg.min_connections,
            low_watermark=cfg.low_watermark,
            high_watermark=cfg.high_watermark,
            max_connections=cfg.max_connections,
            dial_timeout=cfg.dial_timeout,
        ),
        listen_addrs=listen,
    )
    swarm: Any = libp2p_host.get_network()  # a Swarm; its interface lacks retry_config
    swarm.retry_config = RetryConfig(max_retries=cfg.dial_retries, initial_delay=0.1, max_delay=2.0)
    pubsub: Any = None
    router: Any = None
    if cfg.gossip is not None:
        pubsub, router = build_pubsub(libp2p_host, cfg.gossip)
    host: FleetHost | None = None
    try:
        async with libp2p_host.run(listen_addrs=listen), AsyncExitStack() as services:
            if listen and not libp2p_host.get_transport_addrs():
                raise NetError(
                    f"could not listen on {', '.join(cfg.listen_addrs)}: "
                    "is the port in use or the address not local?"
                )
            if pubsub is not None:
                await services.enter_async_context(background_trio_service(pubsub))
                await services.enter_async_context(background_trio_service(router))
                await pubsub.wait_until_ready()
            counters = Counters()
            overlay = await build_overlay(libp2p_host, cfg, services, counters)
            try:
                async with trio.open_nursery() as nursery:
                    gossip = None
                    if cfg.gossip is not None:
                        gossip = GossipHub(pubsub, router, nursery, cfg.gossip)
                    host = FleetHost(libp2p_host, gossip, counters)
                    host.overlay = overlay
                    await overlay.start(host, cfg, nursery)
                    try:
                        yield host
                    finally:
                        nursery.cancel_scope.cancel()
            finally:
                # Close the host while the pubsub services still run (pitfall 3),
                # and explicitly, or the listener survives (pitfall 2).
                if host is not None:
                    host._closed = True
                await close_libp2p_host(libp2p_host)
    finally:
        if pubsub is not None:
            stop_seen_cache_thread(pubsub)


async def _poll_until(current: Callable[[], list[str]], count: int) -> list[str]:
    # py-libp2p has no event for mesh or connection changes we could wait on.
    while len(peers := current()) < count:  # noqa: ASYNC110
        await trio.sleep(PEER_POLL_INTERVAL)
    return peers


# open_hosts lives in p2pfleet.net.hosts; this keeps the old import path working.
from p2pfleet.net.hosts import open_hosts as open_hosts  # noqa: E402
