"""Real hosts on 127.0.0.1 with port 0, in process."""

from __future__ import annotations

import functools
import time

import nacl.signing
import pytest
import trio

from p2pfleet.net.errors import (
    DialError,
    FrameTooLargeError,
    MalformedFrameError,
    NetError,
    ProtocolNegotiationError,
    StreamClosedError,
)
from p2pfleet.net.framing import encode_frame
from p2pfleet.net.gossip import GossipMessage, Subscription
from p2pfleet.net.host import FleetHost, HostConfig, open_host
from p2pfleet.net.hosts import open_hosts
from p2pfleet.net.identity import peer_id_from_seed
from p2pfleet.net.streams import FramedStream

from ._support import ECHO, config, port_of, seed


async def echo(stream: FramedStream) -> None:
    request = await stream.receive(max_size=1024)
    await stream.send(b"echo:" + request)


async def request(host: FleetHost, peer_id: str, payload: bytes) -> bytes:
    stream = await host.open_stream(peer_id, ECHO)
    try:
        await stream.send(payload)
        return await stream.receive(max_size=1024)
    finally:
        await stream.close()


async def receive_one(subscription: Subscription) -> GossipMessage:
    with trio.fail_after(10):
        return await subscription.receive()


async def test_three_hosts_gossip_and_request_response() -> None:
    async with open_hosts([config("a"), config("b"), config("c")]) as (a, b, c):
        for host in (a, b, c):
            host.set_handler(ECHO, echo)
        # b and c join through a; a dials nobody.
        assert await b.connect(a.listen_addrs()[0]) == a.peer_id
        assert await c.connect(a.listen_addrs()[0]) == a.peer_id
        assert sorted(a.connected_peers()) == sorted([b.peer_id, c.peer_id])

        topic = "p2pfleet/test/adverts"
        async with a.subscribe(topic) as at, b.subscribe(topic) as bt, c.subscribe(topic) as ct:
            with trio.fail_after(10):
                await a.wait_gossip_peers(topic, 2)
                await b.wait_gossip_peers(topic, 1)
                await c.wait_gossip_peers(topic, 1)
            await b.publish(topic, b"advert from b")
            for subscription in (at, ct):
                message = await receive_one(subscription)
                assert message == GossipMessage(
                    topic=topic, sender=b.peer_id, data=b"advert from b"
                )
            own = await receive_one(bt)
            assert own.sender == b.peer_id

        # Request/response both ways, plus c -> b over a fresh connection.
        assert await request(b, a.peer_id, b"1") == b"echo:1"
        assert await request(a, b.peer_id, b"2") == b"echo:2"
        c.add_peer_addrs(b.peer_id, b.listen_addrs())
        assert await request(c, b.peer_id, b"3") == b"echo:3"

        # The authenticated remote identity is visible on both ends.
        seen: list[tuple[str, bytes]] = []

        async def who(stream: FramedStream) -> None:
            seen.append((stream.remote_peer, stream.remote_public_key))
            await stream.send(b"ok")

        a.set_handler("/p2pfleet/test-who/0.1.0", who)
        stream = await b.open_stream(a.peer_id, "/p2pfleet/test-who/0.1.0")
        assert await stream.receive(max_size=16) == b"ok"
        assert stream.remote_peer == a.peer_id
        assert stream.remote_public_key == bytes(nacl.signing.SigningKey(seed("a")).verify_key)
        assert seen == [(b.peer_id, bytes(nacl.signing.SigningKey(seed("b")).verify_key))]
        await stream.close()


async def test_many_subscriptions_at_once_and_unsubscribe_on_exit() -> None:
    async with open_hosts([config("a"), config("b")]) as (a, b):
        await b.connect(a.listen_addrs()[0])
        async with b.subscribe("t1") as t1, b.subscribe("t2") as t2, b.subscribe("t1") as t1_again:
            with trio.fail_after(10):
                await a.wait_gossip_peers("t1", 1)
                await a.wait_gossip_peers("t2", 1)
            assert b.statistics().topics == ("t1", "t2")
            await a.publish("t1", b"one")
            await a.publish("t2", b"two")
            assert (await receive_one(t1)).data == b"one"
            assert (await receive_one(t1_again)).data == b"one"
            assert (await receive_one(t2)).data == b"two"
        assert b.statistics().topics == ()
        with trio.fail_after(10):
            while a.gossip_peers("t1") or a.gossip_peers("t2"):  # noqa: ASYNC110
                await trio.sleep(0.05)


async def test_own_messages_can_be_excluded() -> None:
    async with open_hosts([config("a"), config("b")]) as (a, b):
        await b.connect(a.listen_addrs()[0])
        async with a.subscribe("t", include_own=False) as mine, b.subscribe("t"):
            with trio.fail_after(10):
                await a.wait_gossip_peers("t", 1)
                await b.wait_gossip_peers("t", 1)
            await a.publish("t", b"from a")
            await b.publish("t", b"from b")
            assert (await receive_one(mine)).data == b"from b"


async def test_failing_handler_resets_its_stream_and_host_keeps_serving() -> None:
    async def broken(stream: FramedStream) -> None:
        await stream.receive(max_size=16)
        raise RuntimeError("handler bug")

    async with open_hosts([config("a"), config("b")]) as (a, b):
        a.set_handler("/p2pfleet/test-broken/0.1.0", broken)
        a.set_handler(ECHO, echo)
        await b.connect(a.listen_addrs()[0])
        for _ in range(2):
            stream = await b.open_stream(a.peer_id, "/p2pfleet/test-broken/0.1.0")
            await stream.send(b"boom")
            with pytest.raises(StreamClosedError):
                await stream.receive(max_size=16)
        assert await request(b, a.peer_id, b"still here") == b"echo:still here"
        assert a.statistics().handler_errors == 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\xff\xff\xff\x7f", FrameTooLargeError),  # declares ~256 MiB
        (b"\xff" * 10, MalformedFrameError),  # varint never ends
    ],
)
async def test_bad_frame_resets_stream_and_host_keeps_serving(
    raw: bytes, expected: type[Exception]
) -> None:
    errors: list[BaseException] = []

    async def strict(stream: FramedStream) -> None:
        try:
            await stream.receive(max_size=1024)
        except (FrameTooLargeError, MalformedFrameError) as exc:
            errors.append(exc)
            raise

    async with open_hosts([config("a"), config("b")]) as (a, b):
        a.set_handler("/p2pfleet/test-strict/0.1.0", strict)
        a.set_handler(ECHO, echo)
        await b.connect(a.listen_addrs()[0])
        stream = await b.open_stream(a.peer_id, "/p2pfleet/test-strict/0.1.0")
        await stream._stream.write(raw)  # bypass framing on purpose
        with pytest.raises(StreamClosedError):
            await stream.receive(max_size=1024)
        assert [type(e) for e in errors] == [expected]
        assert a.statistics().frames_rejected == 1
        assert await request(b, a.peer_id, b"next") == b"echo:next"


async def test_frames_split_across_many_writes_are_reassembled() -> None:
    payload = bytes(range(256)) * 1024  # 256 KiB, several yamux windows

    async def big_echo(stream: FramedStream) -> None:
        data = await stream.receive(max_size=len(payload))
        await stream.send(data)

    async with open_hosts([config("a"), config("b")]) as (a, b):
        a.set_handler("/p2pfleet/test-big/0.1.0", big_echo)
        await b.connect(a.listen_addrs()[0])
        stream = await b.open_stream(a.peer_id, "/p2pfleet/test-big/0.1.0")
        raw = encode_frame(payload)
        for start in range(0, len(raw), 1000):  # drip-feed 1000-byte pieces
            await stream._stream.write(raw[start : start + 1000])
        assert await stream.receive(max_size=len(payload)) == payload
        await stream.close()


async def test_unknown_protocol_is_a_negotiation_error() -> None:
    async with open_hosts([config("a"), config("b")]) as (a, b):
        await b.connect(a.listen_addrs()[0])
        with pytest.raises(ProtocolNegotiationError, match=r"/p2pfleet/nope/0\.1\.0"):
            await b.open_stream(a.peer_id, "/p2pfleet/nope/0.1.0")


async def test_dial_errors_name_the_peer_and_address() -> None:
    async with open_host(config("a")) as a:
        stale = a.listen_addrs()[0]
    async with open_host(config("b")) as b:
        with pytest.raises(DialError) as info:
            await b.connect(stale)
        assert a.peer_id in str(info.value) and str(port_of(stale)) in str(info.value)
        with pytest.raises(DialError, match="no known address"):
            await b.open_stream("12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN", ECHO)
        with pytest.raises(ValueError, match="/p2p/"):
            await b.connect("/ip4/127.0.0.1/tcp/1")


async def test_wrong_peer_id_in_address_is_refused() -> None:
    async with open_hosts([config("a"), config("b")]) as (a, b):
        other = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
        impostor = a.listen_addrs()[0].replace(a.peer_id, other)
        with pytest.raises(DialError):
            await b.connect(impostor)
        assert b.connected_peers() == []


async def test_listener_is_closed_after_exit() -> None:
    async with open_host(config("a")) as a:
        port = port_of(a.listen_addrs()[0])
        probe = await trio.open_tcp_stream("127.0.0.1", port)  # control: open while running
        await probe.aclose()
    with pytest.raises(OSError):
        await trio.open_tcp_stream("127.0.0.1", port)


async def test_body_exception_leaves_unwrapped_and_host_is_closed_after() -> None:
    kept: list[FleetHost] = []
    with pytest.raises(KeyError, match="from the body"):
        async with open_host(config("a")) as a:
            kept.append(a)
            raise KeyError("from the body")
    with pytest.raises(NetError, match="closed"):
        await kept[0].publish("t", b"x")


async def test_many_hosts_close_quickly() -> None:
    cfgs = [config(f"h{i}") for i in range(8)]
    async with open_hosts(cfgs) as hosts:
        hub = hosts[0]
        async with trio.open_nursery() as nursery:
            for host in hosts[1:]:
                nursery.start_soon(host.connect, hub.listen_addrs()[0])
        assert len(hub.connected_peers()) == 7
        started = time.perf_counter()
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"closing 8 connected hosts took {elapsed:.2f} s"


async def test_bootstrap_dials_and_survives_dead_peers() -> None:
    async with open_host(config("dead")) as dead:
        dead_addr = dead.listen_addrs()[0]
    async with open_host(config("a")) as a:
        bootstrap = (dead_addr, a.listen_addrs()[0])
        async with open_host(config("b", bootstrap=bootstrap)) as b:
            assert b.connected_peers() == [a.peer_id]


async def test_gossip_disabled_host() -> None:
    async with open_host(config("a", gossip=None)) as a:
        with pytest.raises(NetError, match="gossip is disabled"):
            await a.publish("t", b"x")
        assert a.statistics().gossip is None


async def test_protocol_ids_and_payloads_are_checked() -> None:
    async with open_host(config("a")) as a:
        with pytest.raises(ValueError, match="protocol id"):
            a.set_handler("no-slash", echo)
        with pytest.raises(ValueError, match="max_message_size"):
            await a.publish("t", b"x" * (1 << 20))


async def test_connect_retrying_reaches_a_peer_that_starts_late() -> None:
    probe = trio.socket.socket()
    await probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    late = HostConfig(seed=seed("late"), listen_addrs=(f"/ip4/127.0.0.1/tcp/{port}",), gossip=None)
    addr = f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer_id_from_seed(late.seed)}"

    async with open_host(config("early", gossip=None)) as early:
        with pytest.raises(DialError):  # nobody there yet; libp2p now blocks the peer 60 s
            await early.connect(addr)
        async with trio.open_nursery() as nursery:

            async def start_late() -> None:
                await trio.sleep(0.3)
                async with open_host(late) as host:
                    await early.wait_connected(1)
                    assert early.connected_peers() == [host.peer_id]

            nursery.start_soon(start_late)
            assert await early.connect_retrying(addr, attempts=6, first_delay=0.1) == (
                peer_id_from_seed(late.seed)
            )


async def test_one_reader_at_a_time() -> None:
    async def slow(stream: FramedStream) -> None:
        await trio.sleep(0.2)
        await stream.send(b"late")

    async with open_hosts([config("a"), config("b")]) as (a, b):
        a.set_handler("/p2pfleet/test-slow/0.1.0", slow)
        await b.connect(a.listen_addrs()[0])
        stream = await b.open_stream(a.peer_id, "/p2pfleet/test-slow/0.1.0")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(functools.partial(stream.receive, max_size=16))
            await trio.sleep(0.05)
            with pytest.raises(trio.BusyResourceError):
                await stream.receive(max_size=16)


async def test_exit_with_gossip_in_flight_is_clean() -> None:
    # Pitfall 3: stopping Pubsub with messages in flight used to raise
    # "Nursery is closed to new arrivals" out of trio.run.
    for round_ in range(4):
        async with open_hosts(
            [config(f"x{round_}"), config(f"y{round_}"), config(f"z{round_}")]
        ) as (
            x,
            y,
            z,
        ):
            await y.connect(x.listen_addrs()[0])
            await z.connect(x.listen_addrs()[0])
            async with x.subscribe("t"), y.subscribe("t"), z.subscribe("t"):
                with trio.fail_after(10):
                    await x.wait_gossip_peers("t", 2)
                for i in range(30):
                    await y.publish("t", bytes([i]))


async def test_add_peer_addrs_skips_junk_from_adverts() -> None:
    async with open_hosts([config("a"), config("b"), config("c")]) as (a, b, c):
        b.set_handler(ECHO, echo)
        junk = ["", "not a multiaddr", "/ip4/999.1.1.1/tcp/1", *c.listen_addrs()]
        a.add_peer_addrs(b.peer_id, [*junk, *b.listen_addrs()])
        assert await request(a, b.peer_id, b"via advert") == b"echo:via advert"
        with pytest.raises(ValueError, match="peer id"):
            a.add_peer_addrs("junk", b.listen_addrs())


async def test_port_in_use_is_a_clear_error() -> None:
    async with open_host(config("a", gossip=None)) as a:
        port = port_of(a.listen_addrs()[0])
        taken = HostConfig(seed=seed("b"), listen_addrs=(f"/ip4/127.0.0.1/tcp/{port}",))
        with pytest.raises(NetError, match="could not listen"):
            async with open_host(taken):
                pass
