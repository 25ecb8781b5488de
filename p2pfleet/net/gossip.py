"""GossipSub for p2pfleet: configuration, signed publish, fan-out subscriptions.

One libp2p subscription per topic feeds any number of local subscribers, each
with its own bounded queue. A slow subscriber loses its own messages (counted,
logged), never anyone else's.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import libp2p.pubsub.pubsub as libp2p_pubsub_module
import trio
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, PROTOCOL_ID_V12, GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.rpc_queue import RpcQueue

from p2pfleet.net.errors import NetError, describe

logger = logging.getLogger(__name__)

# Pubsub.subscribe() sizes its channel from this module global (32 in 0.8.1,
# dropping the rest with a warning: pitfall 4). Fail loudly if it moves.
if not hasattr(libp2p_pubsub_module, "SUBSCRIPTION_CHANNEL_SIZE"):  # pragma: no cover
    raise ImportError("libp2p.pubsub.pubsub.SUBSCRIPTION_CHANNEL_SIZE is gone: update gossip.py")
# Each peer's outbound RPC queue holds 32 RPCs and drops the rest: a burst of
# 150 publishes reached the peer as 16 (measured). Resized per queue below.
if not hasattr(getattr(RpcQueue(), "_queue", None), "max_size"):  # pragma: no cover
    raise ImportError("libp2p RpcQueue._queue.max_size is gone: update gossip.py")

GOSSIP_PROTOCOLS = (PROTOCOL_ID_V12, PROTOCOL_ID_V11, PROTOCOL_ID)
LEAVE_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class GossipConfig:
    """GossipSub parameters (see protocol/transport.md, "Gossip").

    py-libp2p's defaults do not suit a small fleet: a 120 s heartbeat, a 10
    msg/s per-peer per-topic spam limit that silently drops bursts, a 32-slot
    subscription queue, a 32-RPC outbound queue per peer; and "adaptive gossip" that, measured with 3 peers,
    stretched the 1 s heartbeat to 30 s after 30 s (its health score counts a
    mesh below `degree` as poor), so it is off. Eclipse protection (mesh IP diversity) is off by
    default: every peer shares one IP on loopback, and vehicles behind carrier
    NAT share few public IPs.
    """

    heartbeat_interval: float = 1.0
    heartbeat_initial_delay: float = 0.1
    degree: int = 6
    degree_low: int = 4
    degree_high: int = 12
    fanout_ttl: int = 60
    gossip_window: int = 3
    gossip_history: int = 5
    prune_back_off: int = 60
    seen_ttl: int = 120
    spam_protection: bool = False
    max_messages_per_topic_per_second: float = 1000.0
    eclipse_protection: bool = False
    adaptive_gossip: bool = False
    subscription_queue_size: int = 1024
    outbound_queue_size: int = 1024
    publish_backpressure_timeout: float = 1.0
    max_message_size: int = 64 * 1024

    def __post_init__(self) -> None:
        if not 0 < self.degree_low <= self.degree <= self.degree_high:
            raise ValueError(
                "gossip degrees must satisfy 0 < degree_low <= degree <= degree_high, got "
                f"{self.degree_low}/{self.degree}/{self.degree_high}"
            )
        if self.heartbeat_interval <= 0 or self.heartbeat_initial_delay < 0:
            raise ValueError("gossip heartbeat interval must be > 0 and initial delay >= 0")
        if min(self.subscription_queue_size, self.outbound_queue_size, self.max_message_size) < 1:
            raise ValueError("gossip queue sizes and max message size must be >= 1")


@dataclass(frozen=True, slots=True)
class GossipMessage:
    """One received gossip message; `sender` is the signing origin's PeerId."""

    topic: str
    sender: str
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class GossipStatistics:
    topics: tuple[str, ...]
    local_subscribers: int
    published: int
    delivered: int
    dropped: int


def build_pubsub(host: Any, cfg: GossipConfig) -> tuple[Any, Any]:
    """A (Pubsub, GossipSub) pair for `host`, signing and verifying every message."""
    router = GossipSub(
        protocols=list(GOSSIP_PROTOCOLS),
        degree=cfg.degree,
        degree_low=cfg.degree_low,
        degree_high=cfg.degree_high,
        time_to_live=cfg.fanout_ttl,
        gossip_window=cfg.gossip_window,
        gossip_history=cfg.gossip_history,
        heartbeat_initial_delay=cfg.heartbeat_initial_delay,
        # Annotated int in 0.8.1 but only ever passed to trio.sleep: floats work.
        heartbeat_interval=cast(int, cfg.heartbeat_interval),
        prune_back_off=cfg.prune_back_off,
        spam_protection_enabled=cfg.spam_protection,
        max_messages_per_topic_per_second=cfg.max_messages_per_topic_per_second,
        eclipse_protection_enabled=cfg.eclipse_protection,
        adaptive_gossip_enabled=cfg.adaptive_gossip,
    )
    # strict_signing: publish signs with the host key, receive drops unsigned
    # or forged messages (py-libp2p's default, stated here on purpose).
    pubsub = Pubsub(host, router, strict_signing=True, seen_ttl=cfg.seen_ttl)
    pubsub.peer_queues = _ResizingQueues(cfg.outbound_queue_size)
    return pubsub, router


class _ResizingQueues(dict[Any, Any]):
    """Pubsub's peer -> RpcQueue map; gives each new queue our capacity."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def __setitem__(self, peer: Any, queue: Any) -> None:
        queue._queue.max_size = self.capacity
        super().__setitem__(peer, queue)


@dataclass(eq=False, slots=True)
class _LocalSubscriber:
    send_channel: trio.MemorySendChannel[GossipMessage]
    include_own: bool
    dropped: int = 0


@dataclass(eq=False, slots=True)
class _Topic:
    name: str
    pump_scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    subscribers: set[_LocalSubscriber] = field(default_factory=set)


class Subscription(AsyncIterator[GossipMessage]):
    """Messages of one topic for one local subscriber; an async iterator.

    Iteration ends when the subscription or its host closes.
    """

    topic: str

    def __init__(
        self,
        topic: str,
        receive_channel: trio.MemoryReceiveChannel[GossipMessage],
        local: _LocalSubscriber,
    ) -> None:
        self.topic = topic
        self._receive_channel = receive_channel
        self._local = local

    @property
    def dropped(self) -> int:
        """Messages lost because this subscriber's queue was full."""
        return self._local.dropped

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> GossipMessage:
        try:
            return await self._receive_channel.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def receive(self) -> GossipMessage:
        """The next message; NetError once the subscription is closed."""
        try:
            return await self._receive_channel.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError) as exc:
            raise NetError(f"subscription to {self.topic!r} is closed") from exc


class GossipHub:
    """Owns the host's topic subscriptions; pump tasks run in `nursery`."""

    def __init__(self, pubsub: Any, router: Any, nursery: trio.Nursery, cfg: GossipConfig) -> None:
        self._pubsub = pubsub
        self._router = router
        self._nursery = nursery
        self._cfg = cfg
        self._local_id = pubsub.my_id
        self._topics: dict[str, _Topic] = {}
        self._lock = trio.Lock()
        self._published = 0
        self._delivered = 0
        self._dropped = 0

    async def publish(self, topic: str, data: bytes) -> None:
        _check_topic(topic)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"gossip data must be bytes, got {type(data).__name__}")
        if len(data) > self._cfg.max_message_size:
            raise ValueError(
                f"gossip message of {len(data)} bytes exceeds max_message_size "
                f"{self._cfg.max_message_size}; send bulk data over a stream instead"
            )
        try:
            await self._pubsub.publish(topic, bytes(data))
        except Exception as exc:
            raise NetError(f"publishing on {topic!r} failed: {describe(exc)}") from exc
        self._published += 1
        await self._wait_for_queue_room()

    async def _wait_for_queue_room(self) -> None:
        """Backpressure: let per-peer send loops drain before the next publish.

        Pubsub.publish only enqueues; a tight publish loop never yields to the
        send loops and overflows the queues, which drop. Waits until every
        queue is at most half full, for at most `publish_backpressure_timeout`
        (a stuck peer must not stall publishing forever).
        """
        high_water = self._cfg.outbound_queue_size // 2
        await trio.lowlevel.checkpoint()
        with trio.move_on_after(self._cfg.publish_backpressure_timeout):
            while any(len(q) > high_water for q in self._pubsub.peer_queues.values()):  # noqa: ASYNC110
                await trio.sleep(0.002)

    @asynccontextmanager
    async def subscribe(
        self, topic: str, *, include_own: bool = True
    ) -> AsyncIterator[Subscription]:
        _check_topic(topic)
        send_channel, receive_channel = trio.open_memory_channel[GossipMessage](
            self._cfg.subscription_queue_size
        )
        local = _LocalSubscriber(send_channel, include_own)
        async with self._lock:
            entry = self._topics.get(topic)
            if entry is None:
                entry = await self._join(topic)
            entry.subscribers.add(local)
        try:
            with receive_channel:
                yield Subscription(topic, receive_channel, local)
        finally:
            with trio.move_on_after(LEAVE_TIMEOUT) as scope:
                scope.shield = True
                async with self._lock:
                    entry.subscribers.discard(local)
                    send_channel.close()
                    if not entry.subscribers and self._topics.get(topic) is entry:
                        await self._leave(entry)

    def topics(self) -> tuple[str, ...]:
        return tuple(sorted(self._topics))

    def topic_peers(self, topic: str) -> list[str]:
        """Peers a publish on `topic` goes to first: mesh peers if subscribed,
        else every peer known to be subscribed."""
        peers = self._router.mesh.get(topic)
        if peers is None:
            peers = self._pubsub.peer_topics.get(topic, ())
        return sorted(str(p.to_base58()) for p in peers)

    def statistics(self) -> GossipStatistics:
        return GossipStatistics(
            topics=self.topics(),
            local_subscribers=sum(len(t.subscribers) for t in self._topics.values()),
            published=self._published,
            delivered=self._delivered,
            dropped=self._dropped,
        )

    async def _join(self, topic: str) -> _Topic:
        entry = _Topic(topic)
        libp2p_pubsub_module.SUBSCRIPTION_CHANNEL_SIZE = self._cfg.subscription_queue_size
        try:
            # Pubsub.subscribe() opens its channel before its first await, so
            # the size set above is the one it uses.
            libp2p_subscription = await self._pubsub.subscribe(topic)
        except Exception as exc:
            raise NetError(f"subscribing to {topic!r} failed: {describe(exc)}") from exc
        self._topics[topic] = entry
        self._nursery.start_soon(self._pump, entry, libp2p_subscription)
        return entry

    async def _leave(self, entry: _Topic) -> None:
        del self._topics[entry.name]
        entry.pump_scope.cancel()
        try:
            await self._pubsub.unsubscribe(entry.name)
        except Exception as exc:
            logger.debug("unsubscribing from %r failed: %s", entry.name, describe(exc))

    async def _pump(self, entry: _Topic, libp2p_subscription: Any) -> None:
        with entry.pump_scope:
            try:
                async for raw in libp2p_subscription:
                    self._deliver(entry, raw)
            except Exception as exc:  # a pump error must never take the host down
                logger.error("gossip delivery for %r stopped: %s", entry.name, describe(exc))
        for local in list(entry.subscribers):
            local.send_channel.close()

    def _deliver(self, entry: _Topic, raw: Any) -> None:
        try:
            sender_id = ID(raw.from_id)
        except Exception:
            logger.debug("dropping gossip on %r with a malformed sender id", entry.name)
            return
        own = sender_id == self._local_id
        message = GossipMessage(
            topic=entry.name, sender=str(sender_id.to_base58()), data=bytes(raw.data)
        )
        for local in list(entry.subscribers):
            if own and not local.include_own:
                continue
            try:
                local.send_channel.send_nowait(message)
                self._delivered += 1
            except trio.WouldBlock:
                local.dropped += 1
                self._dropped += 1
                if local.dropped == 1 or local.dropped % 100 == 0:
                    logger.warning(
                        "gossip subscriber on %r is too slow: %d messages dropped "
                        "(raise GossipConfig.subscription_queue_size or read faster)",
                        entry.name,
                        local.dropped,
                    )
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass


def _check_topic(topic: str) -> None:
    if not isinstance(topic, str) or not topic:
        raise ValueError(f"gossip topic must be a non-empty str, got {topic!r}")
