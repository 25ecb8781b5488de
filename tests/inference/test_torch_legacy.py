from __future__ import annotations

import io
import os
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from p2pfleet.inference.torch_legacy import (
    LEGACY_MAGIC_NUMBER,
    LEGACY_PROTOCOL_VERSION,
    CheckpointError,
    UnsafePickleError,
    load_legacy_checkpoint,
    restricted_loads,
)


class _CallsSystem:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned > /dev/null",))


class _CallsEval:
    def __reduce__(self) -> tuple[Any, ...]:
        return (eval, ("1 + 1",))


@pytest.mark.parametrize("payload", [_CallsSystem(), _CallsEval(), print, Path("x")])
def test_restricted_loads_refuses_other_globals(payload: object) -> None:
    with pytest.raises(UnsafePickleError):
        restricted_loads(pickle.dumps(payload, protocol=2))


def test_refusal_happens_before_the_call(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Touch:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, (f"touch {marker}",))

    with pytest.raises(UnsafePickleError):
        restricted_loads(pickle.dumps(Touch()))
    assert not marker.exists()


def _write_checkpoint(
    path: Path, main_pickle: bytes, keys: list[str], blobs: list[tuple[bytes, int]]
) -> None:
    with path.open("wb") as f:
        for header in (
            LEGACY_MAGIC_NUMBER,
            LEGACY_PROTOCOL_VERSION,
            {"protocol_version": 1001, "little_endian": True, "type_sizes": {}},
        ):
            f.write(pickle.dumps(header, protocol=2))
        f.write(main_pickle)
        f.write(pickle.dumps(keys, protocol=2))
        for blob, count in blobs:
            f.write(struct.pack("<Q", count))
            f.write(blob)


def test_crafted_checkpoint_with_malicious_state_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    _write_checkpoint(path, pickle.dumps({"w": _CallsSystem()}, protocol=2), [], [])
    with pytest.raises(UnsafePickleError):
        load_legacy_checkpoint(path)


def _tensor_pickle(key: str, numel: int, shape: tuple[int, ...], stride: tuple[int, ...]) -> bytes:
    """A hand-written protocol-2 pickle of {"w": tensor} in torch's legacy layout."""
    out = io.BytesIO()  # persistent id: ("storage", FloatStorage, key, "cpu", numel, None)
    out.write(b"\x80\x02}q\x00X\x01\x00\x00\x00w")
    out.write(b"ctorch._utils\n_rebuild_tensor_v2\n(")
    out.write(b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\n")
    out.write(b"X" + struct.pack("<I", len(key)) + key.encode())
    out.write(b"X\x03\x00\x00\x00cpu" + b"J" + struct.pack("<i", numel) + b"Nt" + b"Q")
    out.write(b"K\x00" + _int_tuple(shape) + _int_tuple(stride) + b"\x89")
    out.write(b"ccollections\nOrderedDict\n)Rt" + b"Rs.")
    return out.getvalue()


def _int_tuple(values: tuple[int, ...]) -> bytes:
    return b"(" + b"".join(b"J" + struct.pack("<i", v) for v in values) + b"t"


def test_small_crafted_checkpoint_loads_with_strides(tmp_path: Path) -> None:
    data = np.arange(6, dtype="<f4")
    path = tmp_path / "ok.pth"
    # A transposed 3x2 view of a 2x3 storage: stride (1, 3).
    _write_checkpoint(path, _tensor_pickle("k0", 6, (3, 2), (1, 3)), ["k0"], [(data.tobytes(), 6)])
    state = load_legacy_checkpoint(path)
    np.testing.assert_array_equal(state["w"], data.reshape(2, 3).T)


def test_storage_size_mismatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.pth"
    data = np.arange(6, dtype="<f4").tobytes()
    _write_checkpoint(path, _tensor_pickle("k0", 6, (6,), (1,)), ["k0"], [(data, 5)])
    with pytest.raises(CheckpointError):
        load_legacy_checkpoint(path)


def test_view_past_storage_end_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.pth"
    data = np.arange(6, dtype="<f4").tobytes()
    _write_checkpoint(path, _tensor_pickle("k0", 6, (4, 2), (1, 3)), ["k0"], [(data, 6)])
    with pytest.raises(CheckpointError):
        load_legacy_checkpoint(path)


def test_bundled_mobilenet_state_dict(state_dict: dict[str, npt.NDArray[Any]]) -> None:
    assert len(state_dict) == 314
    assert state_dict["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert state_dict["classifier.1.weight"].shape == (1000, 1280)
    assert state_dict["classifier.1.weight"].dtype == np.float32
    assert state_dict["features.0.1.num_batches_tracked"].dtype == np.int64
    assert all(np.isfinite(v).all() for v in state_dict.values())
