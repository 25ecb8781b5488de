"""A node runs a tolerant-tier shard over the real task protocol, and refuses unpinned settings."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import trio

from p2pfleet.core.compress import compress
from p2pfleet.core.identity import Identity
from p2pfleet.core.manifest import Manifest, ReplicationPolicy, ShardSpec, sign_manifest
from p2pfleet.core.protocol_ids import TASK_PROTOCOL
from p2pfleet.core.task_messages import (
    Accept,
    Assign,
    Commit,
    Reject,
    RejectReason,
    Result,
    RevealRequest,
    decode_message,
    encode_message,
)
from p2pfleet.inference.compare import comparator_for
from p2pfleet.inference.engine import OrtImageRunner, load_runner, pinned_settings_of
from p2pfleet.inference.images import sample_batch
from p2pfleet.inference.mobilenet_onnx import build_mobilenet_v2_float
from p2pfleet.inference.ort_runtime import ORT_RUNTIME
from p2pfleet.inference.runtime import model_info
from p2pfleet.inference.tensors import decode_tensor, encode_tensor
from p2pfleet.net.host import HostConfig, open_host
from tests.node.fleet_fixtures import LOOPBACK, open_fleet

SUBMITTER = Identity(hashlib.sha256(b"tolerant-tier submitter").digest())


def assignment(model: bytes, inputs: bytes, settings: dict[str, str]) -> Assign:
    now = int(time.time() * 1000)
    manifest = Manifest(
        submitter=SUBMITTER.public_key,
        nonce=hashlib.sha256(repr(settings).encode()).digest()[:16],
        created_at_ms=now,
        deadline_ms=now + 600_000,
        task="classify-image",
        model=hashlib.sha256(model).digest(),
        runtime=ORT_RUNTIME,
        runtime_settings=tuple(sorted(settings.items())),
        shards=(ShardSpec(input_hash=hashlib.sha256(inputs).digest(), items=2),),
        replication=ReplicationPolicy(replicas=1, max_replicas=1),
    )
    wire = sign_manifest(SUBMITTER, manifest).wire
    return Assign(manifest_wire=wire, shard=0, input_zstd=compress(inputs))


def test_float_mobilenet_shard_runs_and_unpinned_settings_are_refused(tmp_path: Path) -> None:
    model = build_mobilenet_v2_float()
    inputs = encode_tensor(sample_batch()[:2])
    pinned = pinned_settings_of(model)
    assert model_info(model).comparator == "classification"

    async def main() -> None:
        async with open_fleet(tmp_path, model, 1) as (node,):
            client_config = HostConfig(seed=SUBMITTER.seed, listen_addrs=LOOPBACK, gossip=None)
            async with open_host(client_config) as client:
                await client.connect(node.host.listen_addrs()[0])
                with trio.fail_after(120):
                    stream = await client.open_stream(node.peer_id, TASK_PROTOCOL)
                    await stream.send(encode_message(assignment(model, inputs, pinned)))
                    replies = [decode_message(await stream.receive(max_size=1 << 24))]
                    replies.append(decode_message(await stream.receive(max_size=1 << 24)))
                    await stream.send(encode_message(RevealRequest()))
                    result = decode_message(await stream.receive(max_size=1 << 24))
                    await stream.close()

                    refused = []
                    for change in ({"intra_op_threads": "2"}, {"version": "0.0.1"}):
                        stream = await client.open_stream(node.peer_id, TASK_PROTOCOL)
                        assign = assignment(model, inputs, {**pinned, **change})
                        await stream.send(encode_message(assign))
                        refused.append(decode_message(await stream.receive(max_size=1 << 20)))
                        await stream.reset()
        assert isinstance(replies[0], Accept) and isinstance(replies[1], Commit)
        assert isinstance(result, Result)
        output = result.output()
        logits = decode_tensor(output, max_bytes=1 << 20)
        assert logits.shape == (2, 1000) and logits.dtype == np.float32
        runner = load_runner(model)
        assert isinstance(runner, OrtImageRunner)
        local = encode_tensor(runner.run_array(sample_batch()[:2]))
        assert comparator_for("classification")(output, local)
        for reply in refused:
            assert isinstance(reply, Reject) and reply.reason is RejectReason.RUNTIME_UNSUPPORTED
            assert "pinned" in reply.detail

    trio.run(main)
