"""A live view of the fleet: verified adverts from gossip, kept in a PeerTable.

Shared by the node, the submitter and the explorer. Every advert is verified
(signature first) before it is decoded; rejects are counted, never fatal.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence

import trio

from p2pfleet.core.advert import SignedAdvert, verify_advert
from p2pfleet.core.errors import RemoteProtocolError
from p2pfleet.core.peers import AdvertVerdict, PeerTable
from p2pfleet.core.protocol_ids import advert_topic
from p2pfleet.net.host import FleetHost

log = logging.getLogger("p2pfleet.peerview")


def now_ms() -> int:
    return int(time.time() * 1000)


class PeerView:
    def __init__(self, host: FleetHost) -> None:
        self._host = host
        self.table = PeerTable()
        self.verdicts: Counter[str] = Counter()
        self._changed = trio.Event()

    def live(self) -> list[SignedAdvert]:
        return self.table.live(now_ms())

    def offer(self, data: bytes, *, region: str | None = None) -> AdvertVerdict | None:
        """Verify and offer one advert; None if invalid or (given `region`) off-topic.

        A node publishes only on its own region's topic, so an advert whose
        region differs from the topic it came on is dropped ("wrong-region").
        """
        try:
            signed = verify_advert(data)
        except RemoteProtocolError as exc:
            self.verdicts["invalid"] += 1
            log.debug("dropped invalid advert: %s", exc)
            return None
        if region is not None and signed.advert.region != region:
            self.verdicts["wrong-region"] += 1
            log.debug("dropped advert for region %r on %r", signed.advert.region, region)
            return None
        verdict = self.table.offer(signed, now_ms())
        self.verdicts[verdict.value] += 1
        if verdict is AdvertVerdict.ACCEPTED:
            if signed.peer_id != self._host.peer_id and signed.advert.addrs:
                self._host.add_peer_addrs(signed.peer_id, signed.advert.addrs)
            self._changed.set()
            self._changed = trio.Event()
        return verdict

    async def wait_changed(self) -> None:
        await self._changed.wait()

    async def wait_for_peers(self, count: int) -> list[SignedAdvert]:
        """Block until at least `count` live adverts are known (callers bound it with fail_after)."""
        while len(live := self.live()) < count:
            with trio.move_on_after(1.0):
                await self.wait_changed()
        return live

    async def follow(
        self,
        regions: Sequence[str],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Subscribe to the advert topics of `regions` and feed the table until cancelled.

        Any number of regions at once (an explorer or submitter spanning
        several); adverts of other regions never reach this host's table.
        """
        async with trio.open_nursery() as nursery:
            for region in dict.fromkeys(regions):
                await nursery.start(self._follow_region, region)
            task_status.started()

    async def _follow_region(
        self, region: str, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with self._host.subscribe(advert_topic(region)) as messages:
            task_status.started()
            async for message in messages:
                self.offer(message.data, region=region)
