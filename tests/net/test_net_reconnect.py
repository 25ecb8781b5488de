"""Bootstrap peers that go away are redialed with backoff, despite libp2p's 60 s dial cache."""

from __future__ import annotations

from dataclasses import replace

import trio

from p2pfleet.core.backoff import Backoff
from p2pfleet.net.host import FleetHost, HostConfig, open_host
from p2pfleet.net.identity import parse_peer_id, peer_id_from_seed

from ._support import config, seed

FAST = Backoff(initial=0.2, factor=2.0, cap=1.0, jitter=0.1)


async def free_port() -> int:
    probe = trio.socket.socket()
    await probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


def negative_cached(host: FleetHost, peer_id: str) -> bool:
    swarm = host._host.get_network()
    return bool(swarm._negative_peer_cache.is_blocked(str(parse_peer_id(peer_id))))


async def wait_connected_to(host: FleetHost, peer_id: str) -> None:
    while peer_id not in host.connected_peers():  # noqa: ASYNC110
        await trio.sleep(0.05)


async def test_a_bootstrap_peer_that_was_down_is_reconnected_well_before_60_s() -> None:
    port = await free_port()
    boot_cfg = HostConfig(seed=seed("boot"), listen_addrs=(f"/ip4/127.0.0.1/tcp/{port}",))
    boot_id = peer_id_from_seed(boot_cfg.seed)
    boot_addr = f"/ip4/127.0.0.1/tcp/{port}/p2p/{boot_id}"
    node_cfg = replace(config("node", bootstrap=(boot_addr,)), reconnect=FAST)

    async with open_host(node_cfg) as node:
        # the bootstrap peer is down: the first dial failed and libp2p now refuses
        # to dial it for 60 s
        assert node.connected_peers() == []
        assert negative_cached(node, boot_id)
        stats = node.overlay.reconnector.statistics()  # type: ignore[union-attr]
        assert (stats.watched, stats.connected, stats.reconnects) == (1, 0, 0)

        async with open_host(boot_cfg):
            # the test's own 30 s deadline is half the negative cache's 60 s
            with trio.fail_after(20):
                await wait_connected_to(node, boot_id)
        # the bootstrap peer goes away and comes back on the same address
        while boot_id in node.connected_peers():  # noqa: ASYNC110
            await trio.sleep(0.05)
        async with open_host(boot_cfg):
            with trio.fail_after(20):
                await wait_connected_to(node, boot_id)
        stats = node.overlay.reconnector.statistics()  # type: ignore[union-attr]
        assert stats.reconnects == 2
        assert stats.dials > 2  # some retries failed while it was down
