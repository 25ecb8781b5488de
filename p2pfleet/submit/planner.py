"""Turns a job spec into signed work: input tensors, shards and the manifest.

Hidden canary shards are built here: variants of a random selection of the
job's own inputs (submit/canary_inputs.py: never byte-equal to a real input),
placed at random indexes among the real shards, so a node sees the same
manifest shape, item counts and kind of inputs whether a shard is real work
or a check whose answer the submitter already knows.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from p2pfleet.core.identity import Identity
from p2pfleet.core.manifest import (
    EXACT_POLICY,
    TOLERANT_POLICY,
    Manifest,
    ReplicationPolicy,
    ShardSpec,
    SignedManifest,
    sign_manifest,
)
from p2pfleet.inference.engine import manifest_runtime
from p2pfleet.inference.runtime import model_info
from p2pfleet.submit.canary_inputs import canary_items, item_digests
from p2pfleet.submit.inputs import NamedInput, encode_inputs
from p2pfleet.submit.job import JobSpec, JobSpecError


@dataclass(frozen=True, slots=True)
class ShardPlan:
    index: int  # position in the manifest
    names: tuple[str, ...]
    input_bytes: bytes
    canary: bool = False
    known_hash: bytes | None = None  # canaries: SHA-256 of the right output, set by the client

    @property
    def input_hash(self) -> bytes:
        return hashlib.sha256(self.input_bytes).digest()


@dataclass(frozen=True, slots=True)
class JobPlan:
    manifest: SignedManifest
    shards: tuple[ShardPlan, ...]

    @property
    def job_id(self) -> bytes:
        return self.manifest.job_id

    @property
    def real_shards(self) -> tuple[ShardPlan, ...]:
        return tuple(s for s in self.shards if not s.canary)


def plan_job(
    identity: Identity,
    spec: JobSpec,
    model_bytes: bytes,
    inputs: Sequence[NamedInput],
    now_ms: int,
    *,
    canaries: int = 0,
    rng: random.Random | None = None,
) -> JobPlan:
    """Shard `inputs` in order, mix in `canaries` hidden canary shards, sign the manifest.

    The task, runtime and pinned settings come from the model file; a
    tolerant-tier (float) model gets the `tolerant-unanimous` policy.
    """
    rng = rng or random.SystemRandom()
    info = model_info(model_bytes)
    runtime, settings = manifest_runtime(model_bytes)
    batches: list[tuple[tuple[str, ...], bytes, bool]] = []
    for start in range(0, len(inputs), spec.shard_size):
        chunk = inputs[start : start + spec.shard_size]
        batches.append((tuple(n for n, _ in chunk), encode_inputs(chunk), False))
    real_items = item_digests([item for _, item in inputs]) if canaries else set()
    for _ in range(canaries):
        sources = rng.sample(inputs, min(spec.shard_size, len(inputs)))
        chunk = canary_items(info.task, sources, rng, avoid=real_items)
        batches.append((tuple(n for n, _ in chunk), encode_inputs(chunk), True))
    if canaries:  # real shards keep their relative order; canaries land anywhere
        slots = sorted(rng.sample(range(len(batches)), len(batches) - canaries))
        order: list[int | None] = [None] * len(batches)
        for real, slot in enumerate(slots):
            order[slot] = real
        spare = iter(range(len(batches) - canaries, len(batches)))
        batches = [batches[i if i is not None else next(spare)] for i in order]
    shards = tuple(
        ShardPlan(index, names, data, canary) for index, (names, data, canary) in enumerate(batches)
    )
    manifest = Manifest(
        submitter=identity.public_key,
        nonce=secrets.token_bytes(16),
        created_at_ms=now_ms,
        deadline_ms=now_ms + int(spec.deadline_s * 1000),
        task=info.task,
        model=bytes.fromhex(info.model_hash),
        runtime=runtime,
        runtime_settings=settings,
        shards=tuple(ShardSpec(input_hash=s.input_hash, items=len(s.names)) for s in shards),
        replication=ReplicationPolicy(
            name=EXACT_POLICY if info.comparator == "exact" else TOLERANT_POLICY,
            replicas=spec.replicas,
            max_replicas=spec.max_replicas,
        ),
        regions=spec.regions,
    )
    if manifest.comparator != info.comparator:
        raise JobSpecError(
            f"model {info.name} is judged by {info.comparator!r}, but a {info.task} manifest on "
            f"its tier implies {manifest.comparator!r}; rebuild the model with matching metadata"
        )
    return JobPlan(sign_manifest(identity, manifest), shards)
