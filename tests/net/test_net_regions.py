"""Advert topics are partitioned by region; a PeerView can follow several regions at once."""

from __future__ import annotations

import hashlib
import time

import trio

from p2pfleet.core.advert import Advert, VehicleState, sign_advert
from p2pfleet.core.identity import Identity
from p2pfleet.core.protocol_ids import advert_topic
from p2pfleet.net.host import FleetHost
from p2pfleet.net.hosts import open_hosts
from p2pfleet.peerview import PeerView

from ._support import config


def signed(identity: Identity, region: str, seq: int) -> bytes:
    now = int(time.time() * 1000)
    advert = Advert(
        owner=identity.public_key,
        seq=seq,
        issued_at_ms=now,
        ttl_ms=60_000,
        state=VehicleState.PARKED,
        battery_pct=80,
        departure_ms=None,
        tier_watts=60,
        free_slots=1,
        energy_left_wh=500,
        region=region,
    )
    return sign_advert(identity, advert).wire


def node_identity(name: str) -> Identity:
    return Identity(hashlib.sha256(b"region-test/" + name.encode()).digest())


async def test_a_follower_of_two_regions_sees_their_nodes_and_never_the_third() -> None:
    names = ["hub", "follower", "pub-a", "pub-b", "pub-c"]
    async with open_hosts([config(name) for name in names]) as hosts:
        hub, follower, *publishers = hosts
        for host in hosts[1:]:
            await host.connect(hub.listen_addrs()[0])
        view = PeerView(follower)
        identities = {region: node_identity(region) for region in "abc"}
        async with trio.open_nursery() as nursery:
            await nursery.start(view.follow, ["a", "b", "a"])
            # the hub forwards every region (it follows all three), like a region relay
            hub_view = PeerView(hub)
            await nursery.start(hub_view.follow, ["a", "b", "c"])
            with trio.fail_after(20):
                for region, publisher in zip("abc", publishers, strict=True):
                    await publisher.wait_gossip_peers(advert_topic(region), 1)
                await follower.wait_gossip_peers(advert_topic("a"), 1)
                await follower.wait_gossip_peers(advert_topic("b"), 1)

                async def publish_all(seq: int) -> None:
                    for region, publisher in zip("abc", publishers, strict=True):
                        await publish(publisher, region, identities[region], seq)

                seq = 1
                await publish_all(seq)
                while len(view.live()) < 2 or len(hub_view.live()) < 3:
                    seq += 1
                    with trio.move_on_after(1.0):
                        await view.wait_changed()
                    await publish_all(seq)

                # barrier: one more round; region a's newest advert reaching the follower
                # means region c's (published just before) had every chance to leak
                seq += 1
                await publish_all(seq)
                while view.table.get(identities["a"].public_key).advert.seq < seq:  # type: ignore[union-attr]
                    await view.wait_changed()
            nursery.cancel_scope.cancel()

        seen = {s.node_key for s in view.live()}
        assert seen == {identities["a"].public_key, identities["b"].public_key}
        assert identities["c"].public_key in {s.node_key for s in hub_view.live()}
        assert view.verdicts["invalid"] == 0


async def publish(host: FleetHost, region: str, identity: Identity, seq: int) -> None:
    await host.publish(advert_topic(region), signed(identity, region, seq))


async def test_an_advert_on_the_wrong_region_topic_is_dropped() -> None:
    async with open_hosts([config("solo")]) as (host,):
        view = PeerView(host)
        wire = signed(node_identity("x"), "c", 1)
        assert view.offer(wire, region="a") is None
        assert view.verdicts["wrong-region"] == 1
        assert view.offer(wire, region="c") is not None
        assert view.offer(b"garbage", region="c") is None
        assert view.verdicts["invalid"] == 1
