"""Bad input on the task protocol: a typed error and a reset stream, never a dead node."""

from __future__ import annotations

import random
from pathlib import Path

import trio

from p2pfleet.core import codec
from p2pfleet.core.protocol_ids import TASK_PROTOCOL
from p2pfleet.core.task_messages import (
    Assign,
    ErrorMessage,
    Reject,
    RejectReason,
    decode_message,
    encode_message,
)
from p2pfleet.net.errors import NetError
from p2pfleet.net.host import FleetHost, HostConfig, open_host
from tests.node.fleet_fixtures import LOOPBACK, open_fleet


async def _exchange(client: FleetHost, peer: str, frame: bytes) -> object:
    """Send one frame; return the decoded answer, or the NetError that ended the stream."""
    stream = await client.open_stream(peer, TASK_PROTOCOL)
    try:
        await stream.send(frame)
        return decode_message(await stream.receive(max_size=1 << 20))
    except NetError as exc:
        return exc
    finally:
        await stream.reset()


def test_node_survives_malformed_frames_and_keeps_serving(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    rng = random.Random(7)
    garbage = [rng.randbytes(rng.randint(1, 300)) for _ in range(40)]
    garbage += [
        codec.encode({"t": "assign"}),  # missing fields
        codec.encode(
            {"t": "commit", "env": b"\x01" + b"\x00" * 96}
        ),  # bad signature, wrong direction
        codec.encode({"t": "nope"}),
        b"\x81\xa1t\xa6assign",  # truncated msgpack
    ]

    async def main() -> None:
        async with open_fleet(tmp_path, mobilenet_int8, 1) as (node,):
            peer = node.peer_id
            client_config = HostConfig(seed=bytes(range(32)), listen_addrs=LOOPBACK, gossip=None)
            async with open_host(client_config) as client:
                await client.connect(node.host.listen_addrs()[0])
                answers = []
                with trio.fail_after(60):
                    for frame in garbage:
                        answers.append(await _exchange(client, peer, frame))
                # Every bad frame got a typed protocol error (or the stream was reset).
                for answer in answers:
                    assert isinstance(answer, ErrorMessage | NetError), answer
                    if isinstance(answer, ErrorMessage):
                        assert answer.code == "protocol-error" and answer.detail

                # A frame whose declared length is over the limit: the node resets the stream.
                stream = await client.open_stream(peer, TASK_PROTOCOL)
                await stream._stream.write(b"\xff\xff\xff\xff\x7f")  # raw bytes: uvarint of ~34 GB
                with trio.fail_after(10):
                    try:
                        reply: object = await stream.receive(max_size=1 << 20)
                    except NetError as exc:
                        reply = exc
                assert isinstance(reply, NetError)

                # The node still serves: a well-formed assignment with a forged manifest is refused by reason.
                forged = Assign(
                    manifest_wire=b"\x01" + bytes(96) + b"\x80", shard=0, input_zstd=b""
                )
                with trio.fail_after(10):
                    answer = await _exchange(client, peer, encode_message(forged))
                assert isinstance(answer, Reject) and answer.reason is RejectReason.BAD_MANIFEST
                assert node.tasks.protocol_errors >= len(garbage) - 5
                assert node.status().state == "parked"

    trio.run(main)
