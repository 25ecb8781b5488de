"""The explorer: a passive overlay peer that follows adverts and polls node status.

`open_explorer(config)` joins the overlay with a throwaway identity (it never
serves tasks), follows the advert topics of the chosen regions (or of every
region it discovers from nodes' statuses), polls each known node's signed
public status at a modest rate, samples capacity over time, and exposes one
JSON `snapshot()` plus `wait_changed()` for live pages.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from p2pfleet.core.errors import RemoteProtocolError
from p2pfleet.core.protocol_ids import advert_topic
from p2pfleet.explorer.history import CapacityHistory
from p2pfleet.explorer.snapshot import StatusSeen, graph, peer_rows, recent_jobs, summarize
from p2pfleet.net.errors import NetError
from p2pfleet.net.host import FleetHost, HostConfig, open_host
from p2pfleet.node.public_status import fetch_status
from p2pfleet.peerview import PeerView, now_ms

log = logging.getLogger("p2pfleet.explorer")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExplorerConfig:
    bootstrap: tuple[str, ...]
    regions: tuple[str, ...] = ()  # empty: every region discovered from node statuses
    p2p_listen: tuple[str, ...] = ("/ip4/127.0.0.1/tcp/0",)
    status_interval_s: float = 10.0  # how often each known node is asked for its status
    status_timeout_s: float = 5.0
    status_concurrency: int = 4
    status_max_per_round: int = 256  # a big fleet is polled in slices, oldest answers first
    history_interval_s: float = 5.0
    history_max_samples: int = 2880  # 4 h at 5 s
    history_db: Path | None = None  # SQLite file keeping the history across restarts
    refresh_s: float = 2.0  # push a fresh snapshot at least this often (advert ages)
    status_max_age_s: float = 60.0  # forget a node's status after this long without a new one

    def __post_init__(self) -> None:
        for region in self.regions:
            advert_topic(region)  # ValueError for an unusable region name
        if min(self.status_interval_s, self.history_interval_s, self.refresh_s) <= 0:
            raise ValueError("intervals must be positive")


class Explorer:
    def __init__(self, config: ExplorerConfig, host: FleetHost) -> None:
        self.config = config
        self.host = host
        self.view = PeerView(host)
        self.history = CapacityHistory(
            interval_s=config.history_interval_s,
            max_samples=config.history_max_samples,
            db_path=config.history_db,
        )
        self.statuses: dict[str, StatusSeen] = {}
        self.regions: set[str] = set()
        self.status_errors = 0
        self.version = 0
        self._changed = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._cached: dict[str, Any] | None = None

    # -- what the page shows ---------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole view; built once per change, shared by every page and API call."""
        if self._cached is not None and self._cached["version"] == self.version:
            return self._cached
        self._cached = self._build_snapshot()
        return self._cached

    def _build_snapshot(self) -> dict[str, Any]:
        now = now_ms()
        rows = peer_rows(self.view.live(), now)
        return {
            "version": self.version,
            "generated_at_ms": now,
            "explorer": {
                "peer": self.host.peer_id,
                "bootstrap": list(self.config.bootstrap),
                "regions": sorted(self.regions),
                "following_all_regions": not self.config.regions,
                "connected": len(self.host.connected_peers()),
                "statuses": len(self.statuses),
                "status_errors": self.status_errors,
            },
            "peers": rows,
            "summary": summarize(rows),
            "graph": graph(self.host.peer_id, rows, self.statuses),
            "jobs": recent_jobs(self.statuses),
            "history": self.history.to_json(),
        }

    async def wait_changed(self) -> None:
        await self._changed.wait()

    def _notify(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = trio.Event()

    # -- background work -------------------------------------------------------

    async def follow_region(self, region: str) -> None:
        if region in self.regions or self._nursery is None:
            return
        try:
            advert_topic(region)
        except ValueError:
            log.info("not following unusable region name %r", region)
            return
        self.regions.add(region)
        await self._nursery.start(self.view.follow, [region])
        log.info("following adverts of region %r", region)
        self._notify()

    async def poll_once(self) -> None:
        """Ask every known node for its status (a few at a time)."""
        known = {s.peer_id for s in self.view.live()} | set(self.host.connected_peers())
        known.discard(self.host.peer_id)
        oldest_first = sorted(
            known, key=lambda p: (self.statuses[p].received_ms if p in self.statuses else 0, p)
        )
        limiter = trio.CapacityLimiter(self.config.status_concurrency)
        async with trio.open_nursery() as nursery:
            for peer in oldest_first[: self.config.status_max_per_round]:
                nursery.start_soon(self._poll_peer, peer, limiter)
        cutoff = now_ms() - int(self.config.status_max_age_s * 1000)
        for peer in [p for p, seen in self.statuses.items() if seen.received_ms < cutoff]:
            del self.statuses[peer]
        self._notify()

    async def _poll_peer(self, peer: str, limiter: trio.CapacityLimiter) -> None:
        async with limiter:
            try:
                with trio.fail_after(self.config.status_timeout_s):
                    signed = await fetch_status(self.host, peer)
            except (NetError, RemoteProtocolError, trio.TooSlowError) as exc:
                self.status_errors += 1
                log.debug("no status from %s: %s", peer, exc)
                return
        self.statuses[peer] = StatusSeen(signed, now_ms())
        if not self.config.regions:
            await self.follow_region(signed.report.region)

    async def _poll_loop(self) -> None:
        while True:
            await self.poll_once()
            await trio.sleep(self.config.status_interval_s)

    async def _history_loop(self) -> None:
        while True:
            rows = peer_rows(self.view.live(), now_ms())
            self.history.add(now_ms(), summarize(rows))
            self._notify()
            await trio.sleep(self.config.history_interval_s)

    async def _advert_changes(self) -> None:
        while True:
            await self.view.wait_changed()
            self._notify()

    async def _tick(self) -> None:
        while True:
            await trio.sleep(self.config.refresh_s)
            self._notify()


@asynccontextmanager
async def open_explorer(config: ExplorerConfig) -> AsyncIterator[Explorer]:
    """Join the overlay and keep the view fresh until the block exits."""
    # A throwaway identity: the explorer is a passive peer and never takes work.
    host_config = HostConfig(
        seed=secrets.token_bytes(32), listen_addrs=config.p2p_listen, bootstrap=config.bootstrap
    )
    async with open_host(host_config) as host, trio.open_nursery() as nursery:
        explorer = Explorer(config, host)
        explorer._nursery = nursery
        for region in config.regions:
            await explorer.follow_region(region)
        nursery.start_soon(explorer._advert_changes)
        nursery.start_soon(explorer._poll_loop)
        nursery.start_soon(explorer._history_loop)
        nursery.start_soon(explorer._tick)
        try:
            yield explorer
        finally:
            nursery.cancel_scope.cancel()
            explorer.history.close()
