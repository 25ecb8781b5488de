"""Kademlia DHT across real hosts: providers, peer lookup, discovery beyond the bootstrap peer."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
import trio
from libp2p.records.utils import InvalidRecordType

from p2pfleet.net.dht import DhtMode, ProviderRecord, resolve_mode
from p2pfleet.net.errors import NetError
from p2pfleet.net.host import FleetHost, HostConfig, open_host
from p2pfleet.net.hosts import open_hosts

from ._support import config

MODEL = hashlib.sha256(b"a model file").digest()


def dht_config(name: str, *, bootstrap: tuple[str, ...] = ()) -> HostConfig:
    base = config(name, bootstrap=bootstrap, gossip=None)
    return replace(base, discovery_interval=0.3, low_watermark=4, min_connections=2)


async def wait_for(predicate_host: FleetHost, peers: set[str]) -> None:
    while not peers <= set(predicate_host.connected_peers()):  # noqa: ASYNC110
        await trio.sleep(0.1)


async def test_a_late_joiner_finds_providers_and_peers_it_was_never_told_about() -> None:
    async with open_hosts([dht_config("hub")]) as (hub,):
        first = (hub.listen_addrs()[0],)
        async with open_hosts([dht_config(f"n{i}", bootstrap=first) for i in range(4)]) as nodes:
            provider, target = nodes[0], nodes[1]
            assert provider.overlay is not None and provider.overlay.dht is not None
            assert provider.overlay.dht.mode.value == "SERVER"  # it listens: auto = server
            with trio.fail_after(20):
                await provider.dht_provide(MODEL)

            # the late joiner knows only the last node; never the provider or the target
            late_cfg = dht_config("late", bootstrap=(nodes[3].listen_addrs()[0],))
            async with open_host(late_cfg) as late:
                assert late.connected_peers() == [nodes[3].peer_id]
                with trio.fail_after(20):
                    found: list[ProviderRecord] = []
                    while not found:
                        found = await late.dht_find_providers(MODEL, limit=5)
                    assert [r.peer_id for r in found] == [provider.peer_id]  # de-duplicated
                    assert provider.listen_addrs()[0] in found[0].addrs

                    addrs = await late.dht_find_peer(target.peer_id)
                    assert target.listen_addrs()[0] in addrs

                    # discovery connects it to peers beyond its bootstrap peer, up to the
                    # low watermark (4)
                    while len(late.connected_peers()) < 4:  # noqa: ASYNC110
                        await trio.sleep(0.1)
                stats = late.statistics().overlay
                assert stats is not None and stats.dht_mode == "server"
                assert stats.dht_rounds >= 1 and stats.dht_routing_peers >= 1
                assert stats.reconnect is not None and stats.reconnect.watched == 1
                assert (
                    await late.dht_find_providers(hashlib.sha256(b"nobody").digest(), limit=3) == []
                )
                with pytest.raises(ValueError, match="DHT key"):
                    await late.dht_provide(b"")
                with pytest.raises(ValueError, match="limit"):
                    await late.dht_find_providers(MODEL, limit=0)
                # strict validation: a record outside a registered namespace is refused
                with pytest.raises(InvalidRecordType):
                    await late.overlay.dht.kad.put_value("/p2pfleet/anything", b"junk")  # type: ignore[union-attr]
                with pytest.raises(InvalidRecordType):
                    await late.overlay.dht.kad.put_value("no-namespace", b"junk")  # type: ignore[union-attr]


def test_auto_mode_is_server_only_with_a_direct_address() -> None:
    assert resolve_mode("auto", ["/ip4/127.0.0.1/tcp/4001"]).value == "SERVER"  # type: ignore[union-attr]
    assert resolve_mode("auto", []).value == "CLIENT"  # type: ignore[union-attr]
    circuit = (
        "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf/p2p-circuit"
    )
    assert resolve_mode("auto", [circuit]).value == "CLIENT"  # type: ignore[union-attr]
    assert resolve_mode("client", ["/ip4/127.0.0.1/tcp/4001"]).value == "CLIENT"  # type: ignore[union-attr]
    assert resolve_mode(DhtMode.OFF, ["/ip4/127.0.0.1/tcp/4001"]) is None


async def test_dht_off_is_a_clear_error_and_bad_modes_are_refused() -> None:
    async with open_host(replace(config("quiet", gossip=None), dht_mode="off")) as host:
        assert "/ipfs/kad/1.0.0" not in host.handled_protocols()
        with pytest.raises(NetError, match="DHT is off"):
            await host.dht_provide(MODEL)
    with pytest.raises(ValueError, match="dht_mode"):
        replace(config("x"), dht_mode="sometimes")
