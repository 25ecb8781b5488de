from __future__ import annotations

import hashlib
import json
import struct
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from p2pfleet.inference.modelfile import (
    MAX_TENSORS,
    ModelFormatError,
    canonical_json,
    decode_model,
    encode_model,
)
from p2pfleet.inference.runtime import (
    EXACT_RUNTIME,
    build_mobilenet_v2_int8,
    load_model,
    model_info,
)


def test_build_is_byte_identical(model_bytes: bytes) -> None:
    assert build_mobilenet_v2_int8() == model_bytes


def test_model_info_and_metadata(model_bytes: bytes) -> None:
    info = model_info(model_bytes)
    assert info.name == "mobilenet_v2-int8"
    assert info.tier == "exact" and info.runtime == EXACT_RUNTIME == "p2pfleet-int8/1"
    assert info.license == "BSD-3-Clause (torchvision weights)"
    assert info.size == len(model_bytes)
    assert info.model_hash == hashlib.sha256(model_bytes).hexdigest()
    meta = decode_model(model_bytes).metadata
    assert meta["input"]["shape"] == [-1, 224, 224, 3] and meta["input"]["dtype"] == "uint8"
    assert meta["logit_scale"] > 0
    assert len(meta["labels_sha256"]) == 64


def test_only_integer_tensors_are_stored(model_bytes: bytes) -> None:
    tensors = decode_model(model_bytes).tensors
    assert {t.dtype for t in tensors.values()} <= {np.dtype(np.int8), np.dtype(np.int32)}


def _replace_metadata(data: bytes, meta: dict[str, Any]) -> bytes:
    (old_len,) = struct.unpack_from("<I", data, 8)
    raw = canonical_json(meta)
    return data[:8] + struct.pack("<I", len(raw)) + raw + data[12 + old_len :]


def test_corruptions_are_refused(model_bytes: bytes) -> None:
    (meta_len,) = struct.unpack_from("<I", model_bytes, 8)
    meta = decode_model(model_bytes).metadata
    bad = [
        b"XXXX" + model_bytes[4:],
        model_bytes[:4] + struct.pack("<I", 2) + model_bytes[8:],
        model_bytes[:-1],
        model_bytes + b"\x00",
        model_bytes[:12] + json.dumps(meta).encode() + model_bytes[12 + meta_len :],  # spaces
        model_bytes[: 12 + meta_len]
        + struct.pack("<I", MAX_TENSORS + 1)
        + model_bytes[16 + meta_len :],
        model_bytes[:100],
    ]
    for data in bad:
        with pytest.raises(ModelFormatError):
            load_model(data)


def test_wrong_runtime_and_labels_are_refused(model_bytes: bytes) -> None:
    meta = decode_model(model_bytes).metadata
    for key, value in [
        ("runtime", "onnxruntime/1.32"),
        ("tier", "float"),
        ("labels_sha256", "0" * 64),
        ("logit_scale", -1.0),
    ]:
        with pytest.raises(ModelFormatError, match=key.split("_")[0]):
            load_model(_replace_metadata(model_bytes, {**meta, key: value}))


def test_wrong_tensor_shapes_are_refused(model_bytes: bytes) -> None:
    decoded = decode_model(model_bytes)
    tensors = dict(decoded.tensors)
    tensors["b3.dw.weight"] = np.zeros((3, 3, 7), dtype=np.int8)
    with pytest.raises(ModelFormatError, match=r"b3\.dw\.weight"):
        load_model(encode_model(decoded.metadata, tensors))
    tensors = dict(decoded.tensors)
    tensors["extra.thing"] = np.zeros(1, dtype=np.int8)
    with pytest.raises(ModelFormatError, match="unexpected"):
        load_model(encode_model(decoded.metadata, tensors))
    tensors = dict(decoded.tensors)
    del tensors["fc.bias"]
    with pytest.raises(ModelFormatError, match="missing"):
        load_model(encode_model(decoded.metadata, tensors))
    tensors = dict(decoded.tensors)
    tensors["b2.expand.multiplier"] = np.full(96, 2**31 - 1, dtype=np.int32)
    tensors["b2.expand.bias"] = np.full(96, 2**31 - 1, dtype=np.int32)
    with pytest.raises(ModelFormatError, match="overflow"):
        load_model(encode_model(decoded.metadata, tensors))


def _small(tensors: dict[str, npt.NDArray[Any]]) -> bytes:
    return encode_model({"name": "x"}, tensors)


def test_tensor_order_and_names_are_canonical() -> None:
    a = np.zeros(2, dtype=np.int8)
    assert _small({"b": a, "a": a}) == _small({"a": a, "b": a})
    data = _small({"a": a, "b": a})
    swapped = data.replace(b"\x01\x00a", b"\x01\x00c", 1)  # first name 'a' -> 'c' > 'b'
    with pytest.raises(ModelFormatError, match="order"):
        decode_model(swapped)
    with pytest.raises(ModelFormatError):
        _small({"Upper": a})
    with pytest.raises(ModelFormatError):
        decode_model(data.replace(b"\x01\x00a", b"\x01\x00A", 1))


def test_tensor_size_limit() -> None:
    data = _small({"a": np.zeros(4, dtype=np.int8)})
    index = data.index(b"\x01\x00a") + 3
    huge = data[:index] + struct.pack("<I", 1 << 30) + data[index + 4 :]
    with pytest.raises(ModelFormatError, match="over"):
        decode_model(huge)
