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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from p2pfleet.core.identity import Identity
from p2pfleet.core.manifest import (
    Manifest,
    ReplicationPolicy,
    ShardSpec,
    SignedManifest,
    sign_manifest,
)
from p2pfleet.inference.images import preprocess, sample_photos
from p2pfleet.inference.runtime import EXACT_RUNTIME
from p2pfleet.inference.tensors import encode_tensor
from p2pfleet.submit.canary_inputs import canary_items, item_digests
from p2pfleet.submit.job import SAMPLE_PHOTOS, JobSpec, JobSpecError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


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


def load_inputs(source: str) -> list[tuple[str, npt.NDArray[np.uint8]]]:
    """Named uint8 [224, 224, 3] inputs from a folder, a file, or the bundled sample photos."""
    if source == SAMPLE_PHOTOS:
        return sample_photos()
    path = Path(source)
    files = (
        sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if path.is_dir()
        else [path]
    )
    if not files or not all(f.is_file() for f in files):
        raise JobSpecError(f"no images found at {source}; give a folder of images or an image file")
    inputs = []
    for file in files:
        with Image.open(file) as image:
            inputs.append((file.name, preprocess(np.asarray(image.convert("RGB")))))
    return inputs


def plan_job(
    identity: Identity,
    spec: JobSpec,
    model_hash: bytes,
    inputs: list[tuple[str, npt.NDArray[np.uint8]]],
    now_ms: int,
    *,
    canaries: int = 0,
    rng: random.Random | None = None,
) -> JobPlan:
    """Shard `inputs` in order, mix in `canaries` hidden canary shards, sign the manifest."""
    rng = rng or random.SystemRandom()
    batches: list[tuple[tuple[str, ...], bytes, bool]] = []
    for start in range(0, len(inputs), spec.shard_size):
        chunk = inputs[start : start + spec.shard_size]
        batches.append((tuple(n for n, _ in chunk), _encode(chunk), False))
    real_items = item_digests([array for _, array in inputs]) if canaries else set()
    for _ in range(canaries):
        sources = rng.sample(inputs, min(spec.shard_size, len(inputs)))
        chunk = canary_items("classify-image", sources, rng, avoid=real_items)
        batches.append((tuple(n for n, _ in chunk), _encode(chunk), True))
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
        task="classify-image",
        model=model_hash,
        runtime=EXACT_RUNTIME,
        runtime_settings=(("kernels", "numpy-exact-gemm"),),
        shards=tuple(ShardSpec(input_hash=s.input_hash, items=len(s.names)) for s in shards),
        replication=ReplicationPolicy(replicas=spec.replicas, max_replicas=spec.max_replicas),
        regions=spec.regions,
    )
    return JobPlan(sign_manifest(identity, manifest), shards)


def _encode(chunk: list[tuple[str, npt.NDArray[np.uint8]]]) -> bytes:
    return encode_tensor(np.stack([array for _, array in chunk]))
