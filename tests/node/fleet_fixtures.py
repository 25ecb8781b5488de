"""In-process fleets of real nodes (real py-libp2p hosts on 127.0.0.1, port 0)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from pathlib import Path

from p2pfleet.inference.store import ModelStore
from p2pfleet.node.config import NodeConfig
from p2pfleet.node.daemon import Node, open_node

LOOPBACK = ("/ip4/127.0.0.1/tcp/0",)


def node_config(directory: Path, model: bytes, **changes: object) -> NodeConfig:
    ModelStore(directory / "models").put(model)
    base = NodeConfig(data_dir=directory, listen=LOOPBACK, advert_interval_s=1.0, advert_ttl_s=20.0)
    return replace(base, **changes)  # type: ignore[arg-type]


@asynccontextmanager
async def open_fleet(
    base: Path, model: bytes, count: int, **changes: object
) -> AsyncIterator[list[Node]]:
    """`count` nodes; the first is everyone's bootstrap peer."""
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(
            open_node(node_config(base / "n0", model, **changes))
        )
        bootstrap = (first.host.listen_addrs()[0],)
        nodes = [first]
        for index in range(1, count):
            config = node_config(base / f"n{index}", model, bootstrap=bootstrap, **changes)
            nodes.append(await stack.enter_async_context(open_node(config)))
        yield nodes
