"""GossipSub wiring: the py-libp2p defaults that lose messages are overridden."""

from __future__ import annotations

import time

import multiaddr
import pytest
import trio
from libp2p import new_host

from p2pfleet.net.gossip import GossipConfig, build_pubsub
from p2pfleet.net.hosts import open_hosts
from p2pfleet.net.identity import key_pair_from_seed

from ._support import FAST_GOSSIP, config, seed


def test_router_is_built_with_our_parameters() -> None:
    host = new_host(
        key_pair=key_pair_from_seed(seed("wiring")),
        listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")],
    )
    cfg = GossipConfig()
    pubsub, router = build_pubsub(host, cfg)
    assert pubsub.strict_signing is True
    assert router.heartbeat_interval == 1.0
    assert (router.degree, router.degree_low, router.degree_high) == (6, 4, 12)
    assert router.spam_protection_enabled is False
    assert router.adaptive_gossip_enabled is False
    assert router.eclipse_protection_enabled is False
    pubsub.seen_messages.stop()


def test_gossip_config_validates_degrees() -> None:
    with pytest.raises(ValueError, match="degree"):
        GossipConfig(degree=3, degree_low=4)


async def test_a_burst_is_delivered_in_full() -> None:
    # py-libp2p's defaults (10 msg/s spam limit, 32-slot queue) lose most of this.
    burst = 200
    async with open_hosts([config("a"), config("b")]) as (a, b):
        await b.connect(a.listen_addrs()[0])
        async with b.subscribe("burst") as messages, a.subscribe("burst", include_own=False):
            with trio.fail_after(10):
                await a.wait_gossip_peers("burst", 1)
            started = time.perf_counter()
            for i in range(burst):
                await a.publish("burst", i.to_bytes(2, "big"))
            received: list[int] = []
            with trio.fail_after(20):
                async for message in messages:
                    received.append(int.from_bytes(message.data, "big"))
                    if len(received) == burst:
                        break
            elapsed = time.perf_counter() - started
        assert sorted(received) == list(range(burst))
        assert messages.dropped == 0
        print(f"burst of {burst} delivered in {elapsed:.2f} s")


def test_fast_gossip_used_by_tests_is_valid() -> None:
    assert FAST_GOSSIP.heartbeat_interval < GossipConfig().heartbeat_interval
