"""Circuit relay v2 on loopback: a node that listens nowhere is reached through a relay."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
import trio

from p2pfleet.core.advert import Advert, VehicleState, sign_advert
from p2pfleet.core.backoff import Backoff
from p2pfleet.core.identity import Identity
from p2pfleet.net.errors import DialError
from p2pfleet.net.host import HostConfig, open_host
from p2pfleet.net.hosts import open_hosts
from p2pfleet.net.identity import peer_id_from_seed
from p2pfleet.net.relay import RelayServiceLimits
from p2pfleet.net.streams import FramedStream
from p2pfleet.peerview import PeerView

from ._support import ECHO, config, seed


async def echo(stream: FramedStream) -> None:
    request = await stream.receive(max_size=1024)
    await stream.send(b"echo:" + request)


async def test_a_node_listening_nowhere_is_reached_through_a_relay() -> None:
    relay_cfg = replace(config("relay", gossip=None), relay_service=True)
    async with open_hosts([relay_cfg, config("a", gossip=None)]) as (relay, a):
        hidden_key = Identity(seed("hidden"))
        hidden_cfg = HostConfig(
            seed=hidden_key.seed, listen_addrs=(), relays=(relay.listen_addrs()[0],), gossip=None
        )
        async with open_host(hidden_cfg) as hidden:
            hidden.set_handler(ECHO, echo)
            assert hidden.listen_addrs() == []  # no listener at all: only the relay reaches it
            with trio.fail_after(20):
                reachable = await hidden.wait_relay_reservations(1)
            (circuit,) = reachable
            assert circuit == (f"{relay.listen_addrs()[0]}/p2p-circuit/p2p/{hidden.peer_id}"), (
                "reachable address = relay address + /p2p-circuit + own id"
            )

            # a learns the circuit address from hidden's signed advert, as a submitter would
            advert = Advert(
                owner=hidden_key.public_key,
                seq=1,
                issued_at_ms=int(time.time() * 1000),
                ttl_ms=60_000,
                state=VehicleState.PARKED,
                battery_pct=90,
                departure_ms=None,
                tier_watts=60,
                free_slots=1,
                energy_left_wh=100,
                addrs=tuple(addr.removesuffix(f"/p2p/{hidden.peer_id}") for addr in reachable),
            )
            assert PeerView(a).offer(sign_advert(hidden_key, advert).wire) is not None
            with trio.fail_after(20):
                stream = await a.open_stream(hidden.peer_id, ECHO)
                await stream.send(b"through the relay")
                assert await stream.receive(max_size=1024) == b"echo:through the relay"
                await stream.close()
            # the only way in was the relay: a has no direct address of hidden
            assert hidden.peer_id in a.connected_peers()
            assert relay.peer_id in hidden.connected_peers()
            hidden_stats = hidden.statistics().overlay
            assert hidden_stats is not None and hidden_stats.dht_mode == "client"  # no listener
            assert hidden_stats.relay_addrs == (circuit.removesuffix(f"/p2p/{hidden.peer_id}"),)
            assert relay.statistics().overlay.relay_service  # type: ignore[union-attr]
            assert a.statistics().streams_opened == 1


async def test_a_circuit_through_a_host_that_is_no_relay_is_a_dial_error() -> None:
    async with open_hosts([config("not-a-relay", gossip=None), config("a", gossip=None)]) as (
        plain,
        a,
    ):
        target = HostConfig(seed=seed("t"), listen_addrs=(), relays=(plain.listen_addrs()[0],))
        circuit = f"{plain.listen_addrs()[0]}/p2p-circuit/p2p/{peer_id_from_seed(target.seed)}"
        with trio.fail_after(20), pytest.raises(DialError, match="through its relay"):
            await a.connect(circuit)
        with pytest.raises(ValueError, match="circuit address"):
            await a.connect(f"{plain.listen_addrs()[0]}/p2p-circuit")


def test_an_empty_listen_list_needs_relays() -> None:
    with pytest.raises(ValueError, match="relays"):
        HostConfig(seed=seed("x"), listen_addrs=())


async def test_a_lost_relay_is_reserved_again_when_it_comes_back() -> None:
    probe = trio.socket.socket()
    await probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    relay_cfg = HostConfig(
        seed=seed("restarting-relay"),
        listen_addrs=(f"/ip4/127.0.0.1/tcp/{port}",),
        relay_service=True,
        gossip=None,
    )
    relay_addr = f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer_id_from_seed(relay_cfg.seed)}"
    hidden_cfg = HostConfig(
        seed=seed("hidden-2"),
        listen_addrs=(),
        relays=(relay_addr,),
        gossip=None,
        reconnect=Backoff(initial=0.2, cap=1.0),
    )
    async with open_host(hidden_cfg) as hidden:
        assert hidden.reachable_addrs() == []  # the relay is not up yet: keeps retrying
        async with open_host(relay_cfg):
            with trio.fail_after(20):
                first = await hidden.wait_relay_reservations(1)
        assert first == [f"{relay_addr}/p2p-circuit/p2p/{hidden.peer_id}"]
        with trio.fail_after(20):
            while hidden.reachable_addrs():  # noqa: ASYNC110
                await trio.sleep(0.05)  # the reservation went with the relay
        async with open_host(relay_cfg):  # the relay restarts on the same address
            with trio.fail_after(20):
                assert await hidden.wait_relay_reservations(1) == first


async def test_a_relay_enforces_its_reservation_limit() -> None:
    relay_cfg = replace(
        config("small-relay", gossip=None),
        relay_service=True,
        relay_limits=RelayServiceLimits(max_reservations=1),
    )
    async with open_hosts([relay_cfg]) as (relay,):

        def hidden(name: str) -> HostConfig:
            return HostConfig(
                seed=seed(name),
                listen_addrs=(),
                relays=(relay.listen_addrs()[0],),
                gossip=None,
                reconnect=Backoff(initial=0.2, cap=1.0),
            )

        async with open_host(hidden("first")) as first:
            with trio.fail_after(20):
                await first.wait_relay_reservations(1)
            async with open_host(hidden("second")) as second:
                assert second.overlay is not None and second.overlay.relay is not None
                with trio.fail_after(20):
                    while second.overlay.relay.refused_reservations < 2:  # noqa: ASYNC110
                        await trio.sleep(0.05)
                assert second.reachable_addrs() == []
                assert len(first.reachable_addrs()) == 1
