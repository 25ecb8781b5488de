"""A bare submitter side of `/p2pfleet/task/0.1.0`, for node tests and benchmarks.

It signs a one-shard manifest over a synthetic batch and drives one
conversation step by step, so a test can act (e.g. start driving) between
the node's accept and its commit.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import numpy as np

from p2pfleet.core.compress import compress
from p2pfleet.core.identity import Identity
from p2pfleet.core.limits import MAX_TASK_FRAME
from p2pfleet.core.manifest import (
    Manifest,
    ReplicationPolicy,
    ShardSpec,
    SignedManifest,
    sign_manifest,
)
from p2pfleet.core.protocol_ids import TASK_PROTOCOL
from p2pfleet.core.task_messages import Assign, TaskMessage
from p2pfleet.core.tasks import Role, TaskConversation
from p2pfleet.inference.runtime import EXACT_RUNTIME
from p2pfleet.inference.tensors import encode_tensor
from p2pfleet.net.host import FleetHost
from p2pfleet.net.streams import FramedStream


def synthetic_batch(images: int, seed: int = 0) -> bytes:
    """`images` uint8 [224, 224, 3] gradients: real model work, small when compressed."""
    rng = np.random.default_rng(seed)
    ramp = np.arange(224, dtype=np.uint16)
    batch = np.empty((images, 224, 224, 3), dtype=np.uint8)
    for index in range(images):
        a, b, c = (int(v) for v in rng.integers(0, 256, 3))
        batch[index, :, :, 0] = ((ramp[:, None] + a) % 256).astype(np.uint8)
        batch[index, :, :, 1] = ((ramp[None, :] + b) % 256).astype(np.uint8)
        batch[index, :, :, 2] = c
    return encode_tensor(batch)


def one_shard_job(
    identity: Identity,
    model_hash: bytes,
    input_bytes: bytes,
    *,
    items: int,
    regions: tuple[str, ...] = (),
    deadline_s: float = 600.0,
) -> SignedManifest:
    import hashlib

    now = int(time.time() * 1000)
    manifest = Manifest(
        submitter=identity.public_key,
        nonce=secrets.token_bytes(16),
        created_at_ms=now,
        deadline_ms=now + int(deadline_s * 1000),
        task="classify-image",
        model=model_hash,
        runtime=EXACT_RUNTIME,
        runtime_settings=(("kernels", "numpy-exact-gemm"),),
        shards=(ShardSpec(input_hash=hashlib.sha256(input_bytes).digest(), items=items),),
        replication=ReplicationPolicy(replicas=1, max_replicas=1),
        regions=regions,
    )
    return sign_manifest(identity, manifest)


@dataclass(slots=True)
class TaskSession:
    stream: FramedStream
    conversation: TaskConversation

    async def receive(self) -> TaskMessage:
        return self.conversation.receive(await self.stream.receive(max_size=MAX_TASK_FRAME))

    async def send(self, message: TaskMessage) -> None:
        await self.stream.send(self.conversation.send(message))


async def open_task(
    client: FleetHost, peer_id: str, signed: SignedManifest, input_bytes: bytes
) -> TaskSession:
    """Open a task stream and send the assignment of shard 0."""
    stream = await client.open_stream(peer_id, TASK_PROTOCOL)
    conversation = TaskConversation(Role.SUBMITTER)
    conversation.bind(signed.job_id, 0)
    session = TaskSession(stream, conversation)
    await session.send(Assign(manifest_wire=signed.wire, shard=0, input_zstd=compress(input_bytes)))
    return session
