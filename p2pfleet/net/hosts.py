"""Several hosts in one process (tests, benchmarks, the demo fleet)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio

from p2pfleet.net.errors import leaf_exceptions
from p2pfleet.net.host import FleetHost, HostConfig, open_host


@asynccontextmanager
async def open_hosts(cfgs: Sequence[HostConfig]) -> AsyncIterator[list[FleetHost]]:
    """Run several hosts; they start in order and close concurrently (fast teardown)."""
    stop = trio.Event()

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
