"""Canonical model file: metadata + named tensors, one byte string per model.

  magic b"P2FM" | version uint32 LE (1) | metadata length uint32 | metadata (JSON)
  | tensor count uint32 | per tensor: name length uint16, name (ASCII),
    tensor length uint32, tensor (P2FT encoding, see tensors.py)

Canonical form (checked on decode): metadata is JSON with sorted keys, separators
(",", ":") and ASCII only; tensor names are unique, in strictly ascending order, and
use [a-z0-9._]. Model identity is the SHA-256 of the whole file.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

from p2pfleet.inference.tensors import TensorFormatError, decode_tensor, encode_tensor

MAGIC = b"P2FM"
VERSION = 1
MAX_FILE_BYTES = 32 << 20
MAX_METADATA_BYTES = 64 << 10
MAX_TENSORS = 1024
MAX_TENSOR_BYTES = 8 << 20
MAX_NAME_BYTES = 128
_NAME_RE = re.compile(rb"[a-z0-9._]+")


class ModelFormatError(ValueError):
    """The model file is malformed, not canonical, or over a size limit."""


@dataclass(frozen=True)
class ModelFile:
    metadata: dict[str, Any]
    tensors: dict[str, npt.NDArray[Any]]


def canonical_json(value: dict[str, Any]) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def model_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_model(metadata: dict[str, Any], tensors: dict[str, npt.NDArray[Any]]) -> bytes:
    """Encode in canonical form; equal inputs always give equal bytes."""
    meta = canonical_json(metadata)
    parts = [MAGIC, struct.pack("<II", VERSION, len(meta)), meta, struct.pack("<I", len(tensors))]
    for name in sorted(tensors):
        raw_name = name.encode("ascii")
        if not _NAME_RE.fullmatch(raw_name) or len(raw_name) > MAX_NAME_BYTES:
            raise ModelFormatError(f"tensor name {name!r} must be 1-128 chars of [a-z0-9._]")
        body = encode_tensor(tensors[name])
        parts += [struct.pack("<H", len(raw_name)), raw_name, struct.pack("<I", len(body)), body]
    data = b"".join(parts)
    decode_model(data)  # never emit a file we would refuse to read
    return data


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, size: int, what: str) -> bytes:
        end = self._pos + size
        if end > len(self._data):
            raise ModelFormatError(f"model file is truncated in {what}")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def uint(self, fmt: str, what: str) -> int:
        value: int = struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]
        return value

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos


def decode_model(data: bytes) -> ModelFile:
    """Parse and validate a model file; raises ModelFormatError saying what is wrong."""
    if len(data) > MAX_FILE_BYTES:
        raise ModelFormatError(f"model file is {len(data)} bytes, over {MAX_FILE_BYTES}")
    reader = _Reader(data)
    if reader.take(4, "magic") != MAGIC:
        raise ModelFormatError("not a p2pfleet model file (bad magic)")
    if (version := reader.uint("<I", "version")) != VERSION:
        raise ModelFormatError(f"unsupported model file version {version}, expected {VERSION}")
    meta_len = reader.uint("<I", "metadata length")
    if meta_len > MAX_METADATA_BYTES:
        raise ModelFormatError(f"metadata is {meta_len} bytes, over {MAX_METADATA_BYTES}")
    metadata = _parse_metadata(reader.take(meta_len, "metadata"))
    count = reader.uint("<I", "tensor count")
    if count > MAX_TENSORS:
        raise ModelFormatError(f"model has {count} tensors, over {MAX_TENSORS}")
    tensors: dict[str, npt.NDArray[Any]] = {}
    previous = b""
    for _ in range(count):
        name_len = reader.uint("<H", "tensor name length")
        if not 0 < name_len <= MAX_NAME_BYTES:
            raise ModelFormatError(f"tensor name length {name_len} is out of range")
        raw_name = reader.take(name_len, "tensor name")
        if not _NAME_RE.fullmatch(raw_name):
            raise ModelFormatError(f"tensor name {raw_name!r:.60} has invalid characters")
        if raw_name <= previous:
            raise ModelFormatError(f"tensor {raw_name!r} is duplicated or out of order")
        previous = raw_name
        size = reader.uint("<I", "tensor length")
        if size > MAX_TENSOR_BYTES:
            raise ModelFormatError(f"tensor {raw_name!r} is {size} bytes, over {MAX_TENSOR_BYTES}")
        try:
            tensor = decode_tensor(reader.take(size, "tensor data"), max_bytes=MAX_TENSOR_BYTES)
        except TensorFormatError as exc:
            raise ModelFormatError(f"tensor {raw_name!r}: {exc}") from exc
        tensors[raw_name.decode("ascii")] = tensor
    if reader.remaining:
        raise ModelFormatError(f"{reader.remaining} trailing bytes after the last tensor")
    return ModelFile(metadata, tensors)


def _parse_metadata(raw: bytes) -> dict[str, Any]:
    try:
        metadata = json.loads(raw.decode("ascii"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFormatError(f"metadata is not ASCII JSON: {exc}") from exc
    if not isinstance(metadata, dict):
        raise ModelFormatError("metadata must be a JSON object")
    try:
        canonical = canonical_json(metadata)
    except ValueError as exc:
        raise ModelFormatError(f"metadata has non-finite numbers: {exc}") from exc
    if canonical != raw:
        raise ModelFormatError("metadata is not in canonical JSON form (sorted keys, no spaces)")
    return metadata
