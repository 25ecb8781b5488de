"""Turns a job spec into signed work: input tensors, shards and the manifest."""

from __future__ import annotations

import hashlib
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
from p2pfleet.submit.job import SAMPLE_PHOTOS, JobSpec, JobSpecError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass(frozen=True, slots=True)
class ShardPlan:
    index: int
    names: tuple[str, ...]
    input_bytes: bytes

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
) -> JobPlan:
    shards = []
    for index, start in enumerate(range(0, len(inputs), spec.shard_size)):
        chunk = inputs[start : start + spec.shard_size]
        batch = np.stack([array for _, array in chunk])
        shards.append(ShardPlan(index, tuple(name for name, _ in chunk), encode_tensor(batch)))
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
    return JobPlan(sign_manifest(identity, manifest), tuple(shards))
