"""Several hosts in one process (tests, benchmarks, the demo fleet)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from p2pfleet.net.errors import leaf_exceptions

if TYPE_CHECKING:  # host.py re-exports open_hosts, so no import of it at load time
    from p2pfleet.net.host import FleetHost, HostConfig


@asynccontextmanager
async def open_hosts(cfgs: Sequence[HostConfig]) -> AsyncIterator[list[FleetHost]]:
    """Run several hosts; they start in order and close concurrently (fast teardown)."""
    stop = trio.Event()

    from p2pfleet.net.host import open_host

    async def run_one(cfg: HostConfig, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with open_host(cfg) as host:
            task_status.started(host)
            await stop.wait()

    unwrapped: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            hosts: list[FleetHost] = []
            try:
                for cfg in cfgs:
                    hosts.append(await nursery.start(run_one, cfg))
                yield hosts
            finally:
                stop.set()
    except BaseExceptionGroup as group:
        leaves = leaf_exceptions(group)
        if len(leaves) != 1:
            raise
        unwrapped = leaves[0]
    if unwrapped is not None:
        raise unwrapped
