"""Canary inputs are variants of the job's inputs: never byte-equal, still the same kind of data."""

from __future__ import annotations

import hashlib
import random
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import trio

from p2pfleet.core.identity import Identity
from p2pfleet.inference.images import sample_photos
from p2pfleet.inference.runtime import load_model
from p2pfleet.inference.tensors import decode_tensor
from p2pfleet.inference.texts import MAX_TEXT_BYTES, encode_texts, sample_sentences
from p2pfleet.submit.canary_inputs import (
    CanaryInputError,
    canary_items,
    image_variant,
    item_bytes,
    item_digests,
    text_variant,
)
from p2pfleet.submit.client import open_client
from p2pfleet.submit.job import JobSpec
from p2pfleet.submit.planner import plan_job
from tests.node.fleet_fixtures import open_fleet

from .helpers import QUIET, client_config, honest_hashes, share_cpu, write_photos

PHOTOS = sample_photos()


def test_no_canary_input_equals_a_real_input_and_no_shard_hash_is_shared(
    mobilenet_int8: bytes,
) -> None:
    spec = JobSpec(inputs="unused", shard_size=2)
    plan = plan_job(
        Identity(bytes(32)), spec, mobilenet_int8, PHOTOS, 0, canaries=8, rng=random.Random(5)
    )
    real = plan.real_shards
    canaries = [s for s in plan.shards if s.canary]
    assert len(canaries) == 8 and len(real) == 8
    assert not {s.input_hash for s in canaries} & {s.input_hash for s in real}
    manifest_hashes = [s.input_hash for s in plan.manifest.manifest.shards]
    assert manifest_hashes == [s.input_hash for s in plan.shards]
    real_items = {item_bytes(image) for _, image in PHOTOS}
    for shard in canaries:
        batch = decode_tensor(shard.input_bytes, max_bytes=1 << 24)
        assert batch.shape == (2, 224, 224, 3) and batch.dtype == np.uint8  # looks like real work
        assert not any(item_bytes(image) in real_items for image in batch)
        assert set(shard.names) <= {name for name, _ in PHOTOS}


def test_image_variants_stay_close_to_their_source() -> None:
    rng = random.Random(1)
    for _, image in PHOTOS:
        variant = image_variant(image, rng)
        assert variant.shape == image.shape and variant.dtype == np.uint8
        assert variant.tobytes() != image.tobytes()
        # Mean brightness moves by the jitter at most; the picture is not replaced.
        assert abs(float(variant.mean()) - float(image.mean())) < 0.15 * 255


def test_image_variants_keep_the_label_of_confidently_classified_photos(
    mobilenet_int8: bytes,
) -> None:
    model = load_model(mobilenet_int8)
    source = model.run(np.stack([image for _, image in PHOTOS]))
    confident = [i for i, top in enumerate(model.top_k(source, 1)) if top[0][1] >= 0.7]
    assert len(confident) >= 5
    avoid = item_digests([image for _, image in PHOTOS])
    kept = total = 0
    for seed in range(3):
        variants = canary_items("classify-image", PHOTOS, random.Random(seed), avoid=avoid)
        labels = model.run(np.stack([image for _, image in variants])).argmax(axis=1)
        for i in confident:
            top5 = np.argsort(-source[i], kind="stable")[:5]
            assert labels[i] in top5, PHOTOS[i][0]  # never an unrelated picture
            kept += int(labels[i] == source[i].argmax())
            total += 1
    assert kept >= 0.8 * total, f"top-1 kept on {kept} of {total} confident photos"


def test_flat_images_still_get_a_different_variant() -> None:
    flat = [
        ("black", np.zeros((224, 224, 3), np.uint8)),
        ("white", np.full((224, 224, 3), 255, np.uint8)),
    ]
    avoid = item_digests([image for _, image in flat])
    made = canary_items("classify-image", flat * 3, random.Random(0), avoid=avoid)
    digests = [hashlib.sha256(item_bytes(image)).digest() for _, image in made]
    assert not set(digests) & avoid and len(set(digests)) == len(made)


def test_text_variants_differ_but_keep_the_words() -> None:
    rng = random.Random(3)
    texts = [*sample_sentences(), "Parked. Charging now! Leaves at six?", "x", "42"]
    for text in texts:
        variant = text_variant(text, rng)
        assert variant != text
        assert unicodedata.normalize("NFC", variant) == variant
        encode_texts([variant])  # a valid canonical text input
        words = sorted(w.strip(".!?,;").lower() for w in text.split())
        assert sorted(w.strip(".!?,;").lower() for w in variant.split()) == words


def test_text_canaries_avoid_every_real_text_and_respect_the_size_limit() -> None:
    texts = [*sample_sentences(), "a" * MAX_TEXT_BYTES, ("word " * 409).strip()]
    named = [(f"t{i}", text) for i, text in enumerate(texts)]
    avoid = item_digests(texts)
    made = canary_items("embed-text", named, random.Random(9), avoid=avoid)
    assert [name for name, _ in made] == [name for name, _ in named]
    assert not item_digests([text for _, text in made]) & avoid
    assert all(isinstance(text, str) and len(text.encode()) <= MAX_TEXT_BYTES for _, text in made)


def test_an_unknown_task_kind_is_a_clear_error() -> None:
    with pytest.raises(CanaryInputError, match="no canary variants for task kind 'segment'"):
        canary_items("segment", PHOTOS[:1], random.Random(0), avoid=set())


def test_an_honest_fleet_passes_every_variant_canary(tmp_path: Path, mobilenet_int8: bytes) -> None:
    photos = write_photos(tmp_path / "photos", ("coffee", "chelsea", "camera", "clock"))

    async def main() -> None:
        async with open_fleet(tmp_path / "fleet", mobilenet_int8, 2, **QUIET) as nodes:
            share_cpu(nodes)
            async with open_client(client_config(tmp_path, nodes)) as client:
                with trio.fail_after(60):
                    await client.wait_for_nodes(2)
                spec = JobSpec(
                    inputs=str(photos),
                    shard_size=2,
                    policy="adaptive",
                    replicas=2,
                    max_replicas=2,
                    canary_rate=1.0,
                    max_node_share=1.0,
                )
                with trio.fail_after(600):
                    result = await client.run_job(spec)
        canaries = [s for s in result.plan.shards if s.canary]
        assert len(canaries) == 2
        assert result.outcome.canaries_passed >= len(canaries)
        assert not result.outcome.caught
        outputs = {i: hashlib.sha256(o).digest() for i, o in result.outcome.outputs.items()}
        assert outputs == honest_hashes(mobilenet_int8, result)
        real_hashes = {s.input_hash for s in result.plan.real_shards}
        assert not {s.input_hash for s in canaries} & real_hashes

    trio.run(main)
