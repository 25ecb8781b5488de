"""The planner signs what the model file says: task, runtime, pinned settings, tier."""

from __future__ import annotations

import hashlib

from p2pfleet.core.identity import Identity
from p2pfleet.core.manifest import EXACT_POLICY, TOLERANT_POLICY, verify_manifest
from p2pfleet.inference.engine import check_manifest_runtime, pinned_settings_of
from p2pfleet.inference.texts import decode_texts
from p2pfleet.submit.inputs import load_inputs
from p2pfleet.submit.job import SAMPLE_PHOTOS, SAMPLE_SENTENCES, JobSpec
from p2pfleet.submit.planner import plan_job

SUBMITTER = Identity(hashlib.sha256(b"planner tiers").digest())
NOW_MS = 1_795_000_000_000


def test_a_minilm_job_is_a_tolerant_embed_text_manifest_with_pinned_settings(
    minilm_model: bytes,
) -> None:
    inputs = load_inputs(SAMPLE_SENTENCES, "embed-text")
    plan = plan_job(SUBMITTER, JobSpec(shard_size=10), minilm_model, inputs, NOW_MS)
    manifest = verify_manifest(plan.manifest.wire).manifest
    assert manifest.task == "embed-text" and manifest.runtime == "onnxruntime"
    assert dict(manifest.runtime_settings) == pinned_settings_of(minilm_model)
    assert manifest.replication.name == TOLERANT_POLICY and manifest.comparator == "embeddings"
    check_manifest_runtime(minilm_model, manifest.runtime, dict(manifest.runtime_settings))
    assert [s.items for s in manifest.shards] == [10, 10, 4]
    texts = [t for s in plan.shards for t in decode_texts(s.input_bytes)]
    assert texts == [text for _, text in inputs]


def test_an_int8_job_stays_on_the_exact_tier(mobilenet_int8: bytes) -> None:
    inputs = load_inputs(SAMPLE_PHOTOS, "classify-image")[:3]
    plan = plan_job(SUBMITTER, JobSpec(shard_size=2), mobilenet_int8, inputs, NOW_MS)
    manifest = plan.manifest.manifest
    assert (manifest.task, manifest.runtime) == ("classify-image", "p2pfleet-int8/1")
    assert manifest.replication.name == EXACT_POLICY and manifest.comparator == "exact"
    assert manifest.model == hashlib.sha256(mobilenet_int8).digest()
