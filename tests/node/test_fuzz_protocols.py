"""A live node keeps serving after >= 1,000 random and malformed frames on each protocol it
serves, and >= 1,000 malformed or forged adverts on its gossip topic.

The protocols are the ones the node actually registers (`FleetHost.handled_protocols()`),
so a protocol added later is fuzzed without touching this file. Seeded RNG: a failure
reproduces.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import trio
from PIL import Image

from p2pfleet.core.advert import Advert, VehicleState, sign_advert, verify_advert
from p2pfleet.core.identity import Identity
from p2pfleet.core.protocol_ids import advert_topic
from p2pfleet.inference.images import sample_photos
from p2pfleet.net.errors import NetError
from p2pfleet.net.framing import encode_frame
from p2pfleet.net.host import FleetHost, HostConfig, open_host
from p2pfleet.node.daemon import Node
from p2pfleet.node.network_config import NetworkConfig
from p2pfleet.submit.client import ClientConfig, open_client
from p2pfleet.submit.job import JobSpec
from tests.node.fleet_fixtures import LOOPBACK, open_fleet

HOP = "/libp2p/circuit/relay/0.2.0/hop"
FRAMES_PER_PROTOCOL = 1000
FORGED_ADVERTS = 1000
FRAMES_PER_STREAM = 25
CONCURRENT_STREAMS = 4


def fuzz_frame(rng: random.Random) -> bytes:
    """One random or malformed frame (as raw bytes on the stream)."""
    kind = rng.randrange(7)
    if kind == 0:  # well-framed random payload
        return encode_frame(rng.randbytes(rng.randint(0, 512)))
    if kind == 1:  # declared length far over any limit
        return bytes([0xFF] * rng.randint(4, 9)) + b"\x7f"
    if kind == 2:  # non-minimal varint
        return b"\x81\x00" + rng.randbytes(3)
    if kind == 3:  # length says more than follows (truncated by the reset after it)
        return encode_frame(rng.randbytes(64))[: rng.randint(1, 40)]
    if kind == 4:  # bare random bytes, no framing at all
        return rng.randbytes(rng.randint(1, 256))
    if kind == 5:  # empty frame
        return b"\x00"
    # a protobuf-looking varint-delimited blob (what libp2p's own protocols read)
    return encode_frame(bytes([0x08, rng.randrange(256), 0x12]) + rng.randbytes(30))


async def fuzz_protocol(client: FleetHost, peer: str, protocol: str, seed: int) -> int:
    """Send FRAMES_PER_PROTOCOL frames on fresh streams; return how many were written."""
    rng = random.Random(seed)
    sent = 0
    lock = trio.Lock()

    async def one_stream(frames: list[bytes]) -> int:
        try:
            stream = await client.open_stream(peer, protocol)
        except NetError:  # the node refused the stream: fine, and counted as one frame
            return 1
        written = 0
        try:
            for frame in frames:
                await stream._stream.write(frame)  # raw bytes, framing included
                written += 1
        except Exception:  # the node reset the stream on a bad frame: expected
            written += 1
        finally:
            await stream.reset()
        return written

    async def worker() -> None:
        nonlocal sent
        while True:
            async with lock:
                if sent >= FRAMES_PER_PROTOCOL:
                    return
                batch = [fuzz_frame(rng) for _ in range(FRAMES_PER_STREAM)]
                sent += len(batch)
            await one_stream(batch)

    async with trio.open_nursery() as nursery:
        for _ in range(CONCURRENT_STREAMS):
            nursery.start_soon(worker)
    return sent


def forged_adverts(rng: random.Random, victim: bytes, region: str) -> list[bytes]:
    """Malformed and forged adverts; none verifies as the node it claims to be."""
    attacker = Identity(rng.randbytes(32))
    now = int(time.time() * 1000)
    template = Advert(
        owner=attacker.public_key,
        seq=now + 10**6,
        issued_at_ms=now,
        ttl_ms=60_000,
        state=VehicleState.PARKED,
        battery_pct=99,
        departure_ms=None,
        tier_watts=500,
        free_slots=8,
        energy_left_wh=9999,
        region=region,
    )
    honest = sign_advert(attacker, template).wire
    out = []
    for index in range(FORGED_ADVERTS):
        kind = index % 5
        if kind == 0:  # victim's key pasted over the attacker's signer key
            out.append(honest[:1] + victim + honest[33:])
        elif kind == 1:  # one bit flipped in the signature or payload
            position = rng.randrange(33, len(honest))
            flipped = bytearray(honest)
            flipped[position] ^= 1 << rng.randrange(8)
            out.append(bytes(flipped))
        elif kind == 2:  # truncated
            out.append(honest[: rng.randrange(len(honest))])
        elif kind == 3:  # random bytes, sometimes with a plausible version byte
            out.append(bytes([1]) + rng.randbytes(rng.randint(0, 600)))
        else:  # oversize
            out.append(honest + rng.randbytes(1100))
    return out


def write_photos(directory: Path) -> None:
    directory.mkdir()
    for name, pixels in sample_photos():
        if name in ("coffee", "chelsea"):
            Image.fromarray(pixels).save(directory / f"{name}.png")


def test_a_node_survives_fuzzing_on_every_protocol_and_its_topic(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    write_photos(tmp_path / "photos")
    rng = random.Random(20261123)

    async def main() -> None:
        relaying = NetworkConfig(relay_service=True)  # so /hop is served and fuzzed too
        async with open_fleet(tmp_path / "fleet", mobilenet_int8, 2, network=relaying) as nodes:
            target: Node = nodes[0]
            protocols = target.host.handled_protocols()
            for expected in ("/p2pfleet/task/0.1.0", "/ipfs/kad/1.0.0", HOP):
                assert expected in protocols
            fuzzer_cfg = HostConfig(seed=rng.randbytes(32), listen_addrs=LOOPBACK, dht_mode="off")
            async with open_host(fuzzer_cfg) as fuzzer:
                await fuzzer.connect(target.host.listen_addrs()[0])
                with trio.fail_after(120):
                    for index, protocol in enumerate(protocols):
                        sent = await fuzz_protocol(fuzzer, target.peer_id, protocol, index)
                        assert sent >= FRAMES_PER_PROTOCOL, protocol
                        print(f"fuzzed {protocol}: {sent} frames")
                        # still up after each protocol: the fuzzer is still connected
                        if target.peer_id not in fuzzer.connected_peers():
                            await fuzzer.connect(target.host.listen_addrs()[0])

                    topic = advert_topic(target.config.region)
                    await fuzzer.wait_gossip_peers(topic, 1)
                    before = target.peers.verdicts["invalid"]
                    victim = nodes[1].identity.public_key
                    for wire in forged_adverts(rng, victim, target.config.region):
                        await fuzzer.publish(topic, wire)
                    # every forged advert arrives and is dropped as invalid
                    while target.peers.verdicts["invalid"] - before < FORGED_ADVERTS:  # noqa: ASYNC110
                        await trio.sleep(0.1)

            # no forged entry: every advert in the table verifies and is from a fleet node
            fleet_keys = {node.identity.public_key for node in nodes}
            for entry in target.peers.live():
                assert entry.node_key in fleet_keys
                assert verify_advert(entry.wire).node_key == entry.node_key
            assert target.peers.verdicts["invalid"] >= FORGED_ADVERTS
            assert target.host.statistics().handler_errors > 0  # the fuzz did reach handlers

            # and it still does real work: a verified job needs both nodes
            config = ClientConfig(
                data_dir=tmp_path / "submitter", bootstrap=(target.host.listen_addrs()[0],)
            )
            async with open_client(config) as client:
                with trio.fail_after(60):
                    await client.peers.wait_for_peers(2)
                spec = JobSpec(inputs=str(tmp_path / "photos"), shard_size=2, replicas=2)
                with trio.fail_after(180):
                    result = await client.run_job(spec)
            (record,) = result.records
            assert record.output is not None
            assert target.identity.public_key in record.agreeing

    trio.run(main)
