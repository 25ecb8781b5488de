from __future__ import annotations

import struct
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pfleet.inference.tensors import TensorFormatError, decode_tensor, encode_tensor

LIMIT = 1 << 20
dtypes = st.sampled_from([np.uint8, np.int8, np.int32, np.float32])


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(dtypes, hnp.array_shapes(min_dims=0, max_dims=8, max_side=4)))
def test_roundtrip_is_exact(array: npt.NDArray[Any]) -> None:
    data = encode_tensor(array)
    back = decode_tensor(data, max_bytes=LIMIT)
    assert back.dtype == array.dtype and back.shape == array.shape
    assert back.tobytes() == np.ascontiguousarray(array).tobytes()
    assert encode_tensor(back) == data


def test_layout_matches_the_spec() -> None:
    data = encode_tensor(np.array([[1, -2, 3]], dtype=np.int32))
    assert data[:8] == b"P2FT\x01\x03\x02\x00"
    assert data[8:16] == struct.pack("<II", 1, 3)
    assert data[16:] == struct.pack("<3i", 1, -2, 3)


def test_non_contiguous_and_big_endian_encode_canonically() -> None:
    base = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert encode_tensor(base.T) == encode_tensor(np.ascontiguousarray(base.T))
    assert encode_tensor(base.astype(">i4")) == encode_tensor(base)


def _valid() -> bytes:
    return encode_tensor(np.zeros((2, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"P2F",
        b"XXXX" + _valid()[4:],
        _valid()[:4] + b"\x02" + _valid()[5:],  # version
        _valid()[:5] + b"\x09" + _valid()[6:],  # dtype code
        _valid()[:6] + b"\x09" + _valid()[7:],  # ndim > 8
        _valid()[:7] + b"\x01" + _valid()[8:],  # reserved byte
        _valid()[:-1],  # data too short
        _valid() + b"\x00",  # trailing byte
        _valid()[:10],  # truncated dims
    ],
)
def test_malformed_input_is_refused(data: bytes) -> None:
    with pytest.raises(TensorFormatError):
        decode_tensor(data, max_bytes=LIMIT)


def test_limit_is_enforced() -> None:
    data = encode_tensor(np.zeros(100, dtype=np.uint8))
    with pytest.raises(TensorFormatError, match="limit"):
        decode_tensor(data, max_bytes=len(data) - 1)
    assert decode_tensor(data, max_bytes=len(data)).shape == (100,)


def test_huge_declared_shape_does_not_allocate() -> None:
    data = b"P2FT\x01\x01\x02\x00" + struct.pack("<II", 2**32 - 1, 2**32 - 1)
    with pytest.raises(TensorFormatError):
        decode_tensor(data, max_bytes=LIMIT)


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.uint16, np.bool_])
def test_unsupported_dtypes_are_refused(dtype: type[np.generic]) -> None:
    with pytest.raises(TensorFormatError):
        encode_tensor(np.zeros(3, dtype=dtype))


def test_too_many_dims_refused_on_encode() -> None:
    with pytest.raises(TensorFormatError):
        encode_tensor(np.zeros((1,) * 9, dtype=np.uint8))


def test_errors_are_value_errors() -> None:
    assert issubclass(TensorFormatError, ValueError)
