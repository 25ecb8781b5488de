"""Canonical text inputs (P2TX) and the per-kind comparators on crafted outputs."""

from __future__ import annotations

import numpy as np
import pytest

from p2pfleet.inference.compare import (
    EMBEDDING_MIN_COSINE,
    LOGIT_RTOL,
    comparator_for,
)
from p2pfleet.inference.tensors import encode_tensor
from p2pfleet.inference.texts import (
    TextFormatError,
    decode_texts,
    encode_texts,
    sample_sentences,
    texts_from_lines,
)


def test_texts_round_trip_and_have_one_encoding() -> None:
    texts = ["Der Lkw parkt am Depot.", "Ünïcödé ✓", "tab\tinside"]
    data = encode_texts(texts)
    assert decode_texts(data) == texts
    assert data.startswith(b"P2TX\x01\x00\x03\x00")
    assert decode_texts(encode_texts([])) == []


@pytest.mark.parametrize(
    "texts, match",
    [
        (["e\u0301"], "NFC"),
        (["line\nbreak"], "control"),
        ([""], "1.."),
        (["x" * 2049], "1.."),
    ],
)
def test_non_canonical_texts_are_refused(texts: list[str], match: str) -> None:
    with pytest.raises(TextFormatError, match=match):
        encode_texts(texts)


def test_malformed_text_bytes_are_refused() -> None:
    good = encode_texts(["hello"])
    for bad in (good + b"x", good[:-1], b"P2TY" + good[4:], good[:4] + b"\x02" + good[5:]):
        with pytest.raises(TextFormatError):
            decode_texts(bad)
    nfd = b"P2TX\x01\x00\x01\x00\x03\x00e\xcc\x81"
    with pytest.raises(TextFormatError, match="NFC"):
        decode_texts(nfd)
    with pytest.raises(TextFormatError, match="UTF-8"):
        decode_texts(b"P2TX\x01\x00\x01\x00\x01\x00\xff")


def test_text_files_become_canonical_inputs() -> None:
    texts = texts_from_lines("  first line \r\n\n caf\u0065\u0301 au lait\n\t\n")
    assert texts == ["first line", "caf\u00e9 au lait"]
    assert decode_texts(encode_texts(texts)) == texts


def test_sample_sentences_are_bundled() -> None:
    sentences = sample_sentences()
    assert len(sentences) >= 20
    assert any("charg" in s for s in sentences)
    encode_texts(list(sentences))  # all canonical


def _f32(rows: list[list[float]]) -> bytes:
    return encode_tensor(np.asarray(rows, dtype=np.float32))


def test_exact_comparator_is_byte_equality() -> None:
    same = comparator_for("exact")
    a = encode_tensor(np.arange(6, dtype=np.int32).reshape(2, 3))
    assert same(a, a)
    assert not same(a, encode_tensor(np.arange(1, 7, dtype=np.int32).reshape(2, 3)))


def test_classification_comparator() -> None:
    same = comparator_for("classification")
    base = [[10.0, 2.0, -3.0], [0.5, 4.0, 1.0]]
    near = [[10.0 + 5 * LOGIT_RTOL, 2.0, -3.0], [0.5, 4.0, 1.0 + LOGIT_RTOL]]
    assert same(_f32(base), _f32(base))
    assert same(_f32(base), _f32(near))  # honest float noise
    assert not same(_f32(base), _f32([[10.0, 2.0, -3.0], [0.5, 4.0, 1.2]]))  # too far
    assert not same(_f32(base), _f32([[2.0, 10.0, -3.0], [0.5, 4.0, 1.0]]))  # other top-1
    tie = [[5.0, 5.0 - LOGIT_RTOL, 0.0]]
    flipped = [[5.0 - LOGIT_RTOL, 5.0, 0.0]]
    assert same(_f32(tie), _f32(flipped))  # a tie within tolerance is not a disagreement


def test_embedding_comparator() -> None:
    same = comparator_for("embeddings")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 384)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    noisy = x + rng.normal(scale=1e-4, size=x.shape).astype(np.float32)
    assert same(encode_tensor(x), encode_tensor(noisy))
    other = x.copy()
    other[2] = rng.normal(size=384)
    assert not same(encode_tensor(x), encode_tensor(other))
    # Just below the threshold fails: mix in an orthogonal direction.
    ortho = np.zeros_like(x)
    ortho[:, 0], x2 = 1.0, x.copy()
    x2[:, 0] = 0.0
    x2 /= np.linalg.norm(x2, axis=1, keepdims=True)
    angle = np.arccos(EMBEDDING_MIN_COSINE) * 1.5
    rotated = np.cos(angle) * x2 + np.sin(angle) * ortho
    assert not same(encode_tensor(x2.astype(np.float32)), encode_tensor(rotated.astype(np.float32)))


@pytest.mark.parametrize("kind", ["classification", "embeddings"])
def test_malformed_or_mismatched_outputs_are_different_answers(kind: str) -> None:
    same = comparator_for(kind)
    a = _f32([[1.0, 2.0]])
    assert not same(a, b"garbage")
    assert not same(a, _f32([[1.0, 2.0], [1.0, 2.0]]))  # shape
    assert not same(a, encode_tensor(np.asarray([[1, 2]], dtype=np.int32)))  # dtype
    assert not same(a, _f32([[float("nan"), 2.0]]))


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="known kinds"):
        comparator_for("vibes")


def test_every_model_comparator_kind_has_a_comparator(model_bytes: bytes) -> None:
    from p2pfleet.inference.compare import COMPARATORS
    from p2pfleet.inference.modelfile import ModelFormatError, decode_model, encode_model
    from p2pfleet.inference.runtime import COMPARATOR_KINDS, model_info

    assert set(COMPARATORS) == set(COMPARATOR_KINDS)
    assert model_info(model_bytes).comparator == "exact"
    decoded = decode_model(model_bytes)
    bogus = encode_model({**decoded.metadata, "comparator": "vibes"}, decoded.tensors)
    with pytest.raises(ModelFormatError, match="comparator"):
        model_info(bogus)
