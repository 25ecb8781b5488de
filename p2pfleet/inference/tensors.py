"""Canonical binary encoding of one tensor (shard inputs and outputs, model parameters).

  offset  size     field
  0       4        magic b"P2FT"
  4       1        version (1)
  5       1        dtype code: 1 uint8, 2 int8, 3 int32 LE, 4 float32 LE
  6       1        ndim (0..8)
  7       1        reserved, must be 0
  8       4*ndim   dims, uint32 LE
  ...     rest     data, C order, little-endian; length = prod(dims) * itemsize exactly

One array has exactly one encoding, so equal arrays give equal bytes and equal hashes.
See protocol/outputs.md.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import numpy.typing as npt

MAGIC = b"P2FT"
VERSION = 1
MAX_NDIM = 8
HEADER_SIZE = 8

DTYPE_CODES: dict[np.dtype[Any], int] = {
    np.dtype("u1"): 1,
    np.dtype("i1"): 2,
    np.dtype("<i4"): 3,
    np.dtype("<f4"): 4,
}
CODE_DTYPES = {code: dtype for dtype, code in DTYPE_CODES.items()}


class TensorFormatError(ValueError):
    """Bytes are not a valid canonical tensor (or exceed the caller's limit)."""


def encode_tensor(array: npt.NDArray[Any]) -> bytes:
    """Encode a uint8/int8/int32/float32 array with at most 8 dimensions."""
    dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
    code = DTYPE_CODES.get(np.dtype(dtype).newbyteorder("<"))
    if code is None:
        raise TensorFormatError(
            f"cannot encode dtype {array.dtype}; use uint8, int8, int32 or float32"
        )
    if array.ndim > MAX_NDIM:
        raise TensorFormatError(f"tensor has {array.ndim} dims; at most {MAX_NDIM} allowed")
    if any(d >= 2**32 for d in array.shape):
        raise TensorFormatError("a dimension does not fit in uint32")
    header = MAGIC + bytes((VERSION, code, array.ndim, 0))
    dims = struct.pack(f"<{array.ndim}I", *array.shape)
    data = np.ascontiguousarray(array, dtype=CODE_DTYPES[code]).tobytes()
    return header + dims + data


def decode_tensor(data: bytes, *, max_bytes: int) -> npt.NDArray[Any]:
    """Decode and validate; the returned array is a read-only view of native byte order."""
    if len(data) > max_bytes:
        raise TensorFormatError(f"tensor is {len(data)} bytes, over the limit of {max_bytes}")
    if len(data) < HEADER_SIZE:
        raise TensorFormatError(f"tensor is {len(data)} bytes, shorter than its header")
    if data[:4] != MAGIC:
        raise TensorFormatError(f"bad magic {data[:4]!r}, expected {MAGIC!r}")
    version, code, ndim, reserved = data[4:8]
    if version != VERSION:
        raise TensorFormatError(f"unsupported tensor version {version}, expected {VERSION}")
    if code not in CODE_DTYPES:
        raise TensorFormatError(f"unknown dtype code {code}")
    if ndim > MAX_NDIM:
        raise TensorFormatError(f"tensor has {ndim} dims; at most {MAX_NDIM} allowed")
    if reserved != 0:
        raise TensorFormatError("reserved header byte must be 0")
    dims_end = HEADER_SIZE + 4 * ndim
    if len(data) < dims_end:
        raise TensorFormatError("tensor is truncated inside its dims")
    shape = struct.unpack(f"<{ndim}I", data[HEADER_SIZE:dims_end])
    dtype = CODE_DTYPES[code]
    expected = dtype.itemsize
    for d in shape:
        expected *= d
    if len(data) - dims_end != expected:
        raise TensorFormatError(
            f"tensor data is {len(data) - dims_end} bytes, shape {list(shape)} "
            f"of {dtype} needs {expected}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=dims_end).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)
