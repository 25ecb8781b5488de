"""Keep bootstrap peers and relays connected: redial with jittered exponential backoff.

Theory of operation. `start` dials every watched address once, concurrently
(each bounded by the dial timeout), so `open_host` returns connected where it
can. Then one keeper task per address checks the connection every
`check_interval` seconds; when it is gone, the keeper waits the next
`Backoff` delay and dials again, forever, resetting the schedule after a
success.

py-libp2p's swarm puts a peer whose every address failed into a 60 s
negative dial cache (`Swarm._negative_peer_cache`, pitfall 7): any dial
inside that minute fails at once without touching the network. A keeper
therefore goes through `FleetHost.connect`, which evicts the peer's entry
(`Swarm.unblock_peer`) right before each scheduled retry, so a peer that
comes back is reached at the next backoff step rather than a minute later.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from p2pfleet.core.backoff import Backoff
from p2pfleet.net.addresses import parse_peer_addr
from p2pfleet.net.errors import DialError

if TYPE_CHECKING:
    from p2pfleet.net.host import FleetHost

logger = logging.getLogger(__name__)

DEFAULT_CHECK_INTERVAL = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconnectStatistics:
    watched: int
    connected: int
    dials: int
    reconnects: int


class Reconnector:
    """Keeps `watch`ed peer addresses connected for the life of a nursery."""

    def __init__(
        self,
        host: FleetHost,
        policy: Backoff,
        *,
        dial_timeout: float,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        rng: random.Random | None = None,
    ) -> None:
        self._host = host
        self._policy = policy
        self._dial_timeout = dial_timeout
        self._check_interval = check_interval
        self._rng = rng or random.Random()
        self._watched: dict[str, str] = {}  # peer id -> address
        self._dials = 0
        self._reconnects = 0

    async def start(self, addrs: Iterable[str], nursery: trio.Nursery) -> None:
        """Dial `addrs` once, concurrently; then keep each connected from `nursery`."""
        fresh = [addr for addr in addrs if self._add(addr)]
        async with trio.open_nursery() as first_round:
            for addr in fresh:
                first_round.start_soon(self._dial_once, addr, True)
        for addr in fresh:
            nursery.start_soon(self._keep, addr)

    def watch(self, addr: str, nursery: trio.Nursery) -> None:
        """Keep one more address connected (first dial at once, in the background)."""
        if self._add(addr):
            nursery.start_soon(self._keep, addr, True)

    def statistics(self) -> ReconnectStatistics:
        connected = set(self._host.connected_peers())
        return ReconnectStatistics(
            watched=len(self._watched),
            connected=sum(1 for peer in self._watched if peer in connected),
            dials=self._dials,
            reconnects=self._reconnects,
        )

    def _add(self, addr: str) -> bool:
        peer_id = str(parse_peer_addr(addr).peer_id.to_base58())
        if peer_id == self._host.peer_id or peer_id in self._watched:
            return False
        self._watched[peer_id] = addr
        return True

    async def _keep(self, addr: str, dial_first: bool = False) -> None:
        peer_id = str(parse_peer_addr(addr).peer_id.to_base58())
        if dial_first:
            await self._dial_once(addr, True)
        attempt = 0
        while True:
            if peer_id in self._host.connected_peers():
                attempt = 0
                await self._wait_disconnected(peer_id)
                logger.info("lost connection to %s; redialing with backoff", peer_id)
            delay = self._policy.delay(attempt, self._rng)
            attempt += 1
            await trio.sleep(delay)
            if await self._dial_once(addr, False):
                self._reconnects += 1
                logger.info("reconnected to %s after %d attempt(s)", peer_id, attempt)

    async def _wait_disconnected(self, peer_id: str) -> None:
        # py-libp2p has no disconnect event we could wait on: poll.
        while peer_id in self._host.connected_peers():  # noqa: ASYNC110
            await trio.sleep(self._check_interval)

    async def _dial_once(self, addr: str, first: bool) -> bool:
        self._dials += 1
        with trio.move_on_after(self._dial_timeout):
            try:
                await self._host.connect(addr)  # lifts the 60 s negative cache entry
                return True
            except DialError as exc:
                if first:
                    logger.warning("peer unreachable, will keep retrying: %s", exc)
                else:
                    logger.debug("redial failed: %s", exc)
                return False
        if first:
            logger.warning(
                "peer %s did not answer within %.1f s, will keep retrying", addr, self._dial_timeout
            )
        return False


async def connect_retrying(host: FleetHost, addr: str, *, attempts: int, policy: Backoff) -> str:
    """Dial `addr` up to `attempts` times on `policy`'s schedule; the last DialError if none works."""
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    rng = random.Random()
    for attempt in range(attempts):
        try:
            return await host.connect(addr)  # lifts the 60 s negative cache entry
        except DialError:
            if attempt == attempts - 1:
                raise
            delay = policy.delay(attempt, rng)
            logger.info(
                "dial %d/%d to %s failed; retrying in %.1f s", attempt + 1, attempts, addr, delay
            )
        await trio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
