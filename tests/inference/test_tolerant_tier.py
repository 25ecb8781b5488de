"""The tolerant tier: MiniLM-L6 embeddings and float MobileNetV2 on pinned onnxruntime."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pytest

from p2pfleet.inference.compare import (
    classification_equal,
    comparator_for,
    cosine_rows,
    embeddings_equal,
)
from p2pfleet.inference.engine import (
    OrtImageRunner,
    OrtTextRunner,
    check_manifest_runtime,
    load_runner,
    manifest_runtime,
    pinned_settings_of,
)
from p2pfleet.inference.minilm import (
    EMBEDDING_DIM,
    MiniLMEmbedder,
    build_minilm,
    minilm_onnx_path,
    truncate_layers,
)
from p2pfleet.inference.mobilenet_v2 import FoldedMobileNetV2, float_forward
from p2pfleet.inference.modelfile import decode_model
from p2pfleet.inference.ort_runtime import (
    ORT_RUNTIME,
    OrtSettings,
    RuntimeSettingsError,
    installed_version,
    pinned_settings,
)
from p2pfleet.inference.runtime import LoadedModel, model_info
from p2pfleet.inference.selfcheck import SENTENCE_CHECKS, self_check
from p2pfleet.inference.tensors import decode_tensor, encode_tensor
from p2pfleet.inference.texts import encode_texts, sample_sentences


@pytest.fixture(scope="module")
def embedder(minilm_bytes: bytes) -> MiniLMEmbedder:
    runner = load_runner(minilm_bytes)
    assert isinstance(runner, OrtTextRunner)
    return runner.embedder


def test_model_files_are_deterministic_and_described(
    minilm_bytes: bytes, float_mobilenet_bytes: bytes
) -> None:
    assert hashlib.sha256(build_minilm()).digest() == hashlib.sha256(minilm_bytes).digest()
    minilm = model_info(minilm_bytes)
    assert (minilm.tier, minilm.task, minilm.comparator) == ("tolerant", "embed-text", "embeddings")
    assert minilm.runtime == ORT_RUNTIME and "Apache-2.0" in minilm.license
    mobilenet = model_info(float_mobilenet_bytes)
    assert (mobilenet.task, mobilenet.comparator) == ("classify-image", "classification")
    assert pinned_settings_of(minilm_bytes) == pinned_settings().as_manifest()
    assert pinned_settings_of(minilm_bytes)["version"] == installed_version()


def test_minilm_is_a_real_sentence_model(embedder: MiniLMEmbedder) -> None:
    sentences = list(sample_sentences())
    emb = embedder.embed(sentences)
    assert emb.shape == (len(sentences), EMBEDDING_DIM) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    for anchor, paraphrase, unrelated in SENTENCE_CHECKS:
        assert emb[anchor] @ emb[paraphrase] > emb[anchor] @ emb[unrelated] + 0.2
    # Each paraphrase is the anchor's nearest neighbour among all sample sentences.
    for anchor, paraphrase, _ in SENTENCE_CHECKS:
        scores = emb @ emb[anchor]
        scores[anchor] = -1.0
        assert int(np.argmax(scores)) == paraphrase


def test_honest_variations_agree_under_the_embedding_comparator(
    minilm_bytes: bytes, embedder: MiniLMEmbedder
) -> None:
    sentences = list(sample_sentences())
    batch = embedder.embed(sentences)
    single = np.concatenate([embedder.embed([s]) for s in sentences])
    model = decode_model(minilm_bytes)
    two_threads = MiniLMEmbedder(model, replace(pinned_settings(), intra_op_threads=2))
    unoptimised = MiniLMEmbedder(
        model, replace(pinned_settings(), graph_optimization_level="basic")
    )
    for other in (single, two_threads.embed(sentences), unoptimised.embed(sentences)):
        assert embeddings_equal(encode_tensor(batch), encode_tensor(other))


def test_a_cheaper_substitute_is_rejected(embedder: MiniLMEmbedder) -> None:
    sentences = list(sample_sentences())
    cut = build_minilm(onnx_bytes=truncate_layers(minilm_onnx_path().read_bytes(), 5))
    runner = load_runner(cut)
    assert isinstance(runner, OrtTextRunner)
    honest, cheap = embedder.embed(sentences), runner.embedder.embed(sentences)
    assert cosine_rows(honest, cheap).max() < 0.99
    assert not embeddings_equal(encode_tensor(honest), encode_tensor(cheap))


def test_text_shards_run_through_the_engine(minilm_bytes: bytes) -> None:
    runner = load_runner(minilm_bytes)
    sentences = list(sample_sentences())[:5]
    out = decode_tensor(runner.run_bytes(encode_texts(sentences)), max_bytes=1 << 20)
    assert out.shape == (5, EMBEDDING_DIM)
    with pytest.raises(ValueError, match="P2TX"):
        runner.run_bytes(b"not text")


def test_float_onnx_mobilenet_matches_the_numpy_reference(
    float_mobilenet_bytes: bytes,
    folded: FoldedMobileNetV2,
    photo_batch: npt.NDArray[np.uint8],
) -> None:
    runner = load_runner(float_mobilenet_bytes)
    assert isinstance(runner, OrtImageRunner)
    logits = runner.run_array(photo_batch)
    numpy_logits = float_forward(folded, photo_batch).astype(np.float32)
    # Different runtimes (onnxruntime vs numpy/OpenBLAS): not bit-identical, same answer.
    assert classification_equal(encode_tensor(logits), encode_tensor(numpy_logits))
    assert (logits.argmax(axis=1) == numpy_logits.argmax(axis=1)).all()
    shard = runner.run_bytes(encode_tensor(photo_batch[:4]))
    assert classification_equal(shard, encode_tensor(logits[:4]))  # single shard vs batch
    assert not classification_equal(shard, encode_tensor(logits[4:8]))  # other images


def test_int8_substitute_is_rejected_by_the_classification_comparator(
    float_mobilenet_bytes: bytes,
    model: LoadedModel,
    int8_outputs: npt.NDArray[np.int32],
    photo_batch: npt.NDArray[np.uint8],
) -> None:
    runner = load_runner(float_mobilenet_bytes)
    assert isinstance(runner, OrtImageRunner)
    honest = encode_tensor(runner.run_array(photo_batch))
    dequantised = (int8_outputs.astype(np.float64) * model._logit_scale).astype(np.float32)
    assert not comparator_for("classification")(honest, encode_tensor(dequantised))


def test_the_node_refuses_settings_it_cannot_honour(minilm_bytes: bytes) -> None:
    pinned = pinned_settings_of(minilm_bytes)
    manifest_rt, manifest_settings = manifest_runtime(minilm_bytes)
    assert manifest_rt == ORT_RUNTIME and dict(manifest_settings) == pinned
    check_manifest_runtime(minilm_bytes, manifest_rt, dict(manifest_settings))
    cases = [
        ("p2pfleet-int8/1", pinned, "runtime"),
        (ORT_RUNTIME, {**pinned, "version": "1.0.0"}, "differ"),
        (ORT_RUNTIME, {**pinned, "intra_op_threads": "2"}, "differ"),
        (ORT_RUNTIME, {k: v for k, v in pinned.items() if k != "version"}, "differ"),
    ]
    for runtime, settings, match in cases:
        with pytest.raises(RuntimeSettingsError, match=match):
            check_manifest_runtime(minilm_bytes, runtime, settings)


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"version": "1"}, "exactly the keys"),
        ({**pinned_settings().as_manifest(), "intra_op_threads": "two"}, "decimal"),
        ({**pinned_settings().as_manifest(), "intra_op_threads": "0"}, "1..64"),
        ({**pinned_settings().as_manifest(), "graph_optimization_level": "max"}, "one of"),
        ({**pinned_settings().as_manifest(), "execution_mode": "async"}, "one of"),
    ],
)
def test_malformed_settings(settings: dict[str, str], match: str) -> None:
    with pytest.raises(RuntimeSettingsError, match=match):
        OrtSettings.from_manifest(settings)


def test_self_checks_pass_and_catch_a_broken_model(
    minilm_bytes: bytes, float_mobilenet_bytes: bytes, model_bytes: bytes
) -> None:
    for data in (minilm_bytes, float_mobilenet_bytes, model_bytes):
        result = self_check(data)
        assert result.passed, result.detail
    assert "espresso" in self_check(model_bytes).detail
    # A MiniLM missing its last layer no longer separates paraphrases from unrelated text.
    cut = build_minilm(onnx_bytes=truncate_layers(minilm_onnx_path().read_bytes(), 5))
    assert not self_check(cut).passed
    junk = self_check(b"junk")
    assert not junk.passed and "ModelFormatError" in junk.detail
