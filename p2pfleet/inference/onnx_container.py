"""An ONNX graph (and its side files) inside a canonical P2FM model file.

The ONNX bytes are split into uint8 tensors `onnx.000`, `onnx.001`, … of at most
8 MiB (the P2FM per-tensor limit); side files such as a tokenizer are uint8
tensors of their own. The model's identity stays the SHA-256 of the P2FM file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from p2pfleet.inference.modelfile import MAX_TENSOR_BYTES, ModelFile, ModelFormatError
from p2pfleet.inference.modelfile import encode_model as _encode_model
from p2pfleet.inference.tensors import HEADER_SIZE

ONNX_PREFIX = "onnx."
CHUNK_BYTES = MAX_TENSOR_BYTES - HEADER_SIZE - 4  # room for the P2FT header of a 1-D tensor


def _as_tensor(data: bytes) -> Any:
    return np.frombuffer(data, dtype=np.uint8).copy()


def encode_onnx_model(
    metadata: dict[str, Any], onnx_bytes: bytes, side_files: dict[str, bytes] | None = None
) -> bytes:
    tensors = {
        f"{ONNX_PREFIX}{index:03d}": _as_tensor(onnx_bytes[start : start + CHUNK_BYTES])
        for index, start in enumerate(range(0, len(onnx_bytes), CHUNK_BYTES))
    }
    for name, data in (side_files or {}).items():
        tensors[name] = _as_tensor(data)
    return _encode_model(metadata, tensors)


def onnx_bytes_of(model: ModelFile) -> bytes:
    names = sorted(n for n in model.tensors if n.startswith(ONNX_PREFIX))
    if not names or names != [f"{ONNX_PREFIX}{i:03d}" for i in range(len(names))]:
        raise ModelFormatError("model has no ONNX graph or its onnx.NNN chunks are not contiguous")
    return b"".join(side_file(model, name) for name in names)


def side_file(model: ModelFile, name: str) -> bytes:
    tensor = model.tensors.get(name)
    if tensor is None or tensor.dtype != np.uint8 or tensor.ndim != 1:
        raise ModelFormatError(f"model lacks the uint8 tensor {name!r}")
    return tensor.tobytes()
