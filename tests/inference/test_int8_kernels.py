"""The integer kernels against slow, obviously-correct int64 references."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pfleet.inference.int8_kernels import (
    conv_forward,
    exact_carrier,
    exact_gemm,
    prepare_conv,
    requant_offset,
    requantise,
)
from p2pfleet.inference.qmodel import QuantConv


def _reference_requantise(acc: int, bias: int, m: int, s: int, zp: int, lo: int, hi: int) -> int:
    value = (acc + bias) * m
    rounded = (value + (1 << (s - 1))) // (1 << s)  # floor division: round half up
    return max(lo, min(hi, rounded + zp))


@settings(max_examples=200, deadline=None)
@given(
    acc=st.integers(-(2**25), 2**25),
    bias=st.integers(-(2**24), 2**24),
    m=st.integers(0, 2**31 - 1),
    s=st.integers(1, 40),
    zp=st.integers(-128, 127),
)
def test_requantise_matches_integer_formula(acc: int, bias: int, m: int, s: int, zp: int) -> None:
    mult = np.array([m], dtype=np.int64)
    shift = np.array([s], dtype=np.int64)
    offset = requant_offset(np.array([bias]), mult, shift, zp)
    got = requantise(np.array([[acc]], dtype=np.int32), mult, offset, shift, -128, 127)
    assert int(got[0, 0]) == _reference_requantise(acc, bias, m, s, zp, -128, 127)


def test_requantise_rounds_half_up() -> None:
    # acc * 1 / 2^1: 1/2 -> 1, -1/2 -> 0, 3/2 -> 2, -3/2 -> -1
    mult, shift = np.array([1], dtype=np.int64), np.array([1], dtype=np.int64)
    offset = requant_offset(np.zeros(1, dtype=np.int64), mult, shift, 0)
    acc = np.array([[1], [-1], [3], [-3]], dtype=np.int32)
    assert requantise(acc, mult, offset, shift, -128, 127).ravel().tolist() == [1, 0, 2, -1]


@pytest.mark.parametrize("k", [27, 960, 1032, 1033, 1280])
def test_exact_gemm_is_exact_at_the_extremes(k: int) -> None:
    rng = np.random.default_rng(k)
    a = rng.integers(-128, 128, size=(5, k)).astype(np.int8)
    a[0] = -128
    w = rng.integers(-127, 128, size=(k, 3)).astype(np.int8)
    w[:, 0] = -127
    got = exact_gemm(a, w.astype(exact_carrier(k)))
    np.testing.assert_array_equal(got, a.astype(np.int64) @ w.astype(np.int64))
    assert exact_carrier(k) == (np.float32 if k <= 1032 else np.float64)


def _random_conv(kind: str, cin: int, cout: int, stride: int, seed: int) -> QuantConv:
    rng = np.random.default_rng(seed)
    shape = {"stem": (9 * cin, cout), "dw": (3, 3, cout), "pw": (cin, cout)}[kind]
    return QuantConv(
        name="t",
        kind=kind,  # type: ignore[arg-type]
        stride=stride,
        weight=rng.integers(-127, 128, size=shape).astype(np.int8),
        bias=rng.integers(-5000, 5000, size=cout).astype(np.int32),
        multiplier=rng.integers(2**30, 2**31 - 1, size=cout).astype(np.int32),
        shift=rng.integers(36, 44, size=cout).astype(np.int32),
        in_zp=int(rng.integers(-128, 128)),
        out_zp=int(rng.integers(-20, 20)),
        clamp_min=-100,
        clamp_max=110,
    )


def _reference_conv(conv: QuantConv, x: npt.NDArray[np.int8]) -> npt.NDArray[np.int8]:
    n, h, w, c = x.shape
    padded = np.full((n, h + 2, w + 2, c), conv.in_zp, dtype=np.int64)
    padded[:, 1:-1, 1:-1] = x
    s = conv.stride
    oh, ow = (h - 1) // s + 1, (w - 1) // s + 1
    cout = conv.bias.shape[0]
    acc = np.zeros((n, oh, ow, cout), dtype=np.int64)
    for i in range(oh):
        for j in range(ow):
            patch = padded[:, i * s : i * s + 3, j * s : j * s + 3, :]
            if conv.kind == "dw":
                acc[:, i, j] = (patch * conv.weight.astype(np.int64)).sum(axis=(1, 2))
            elif conv.kind == "stem":
                acc[:, i, j] = patch.reshape(n, -1) @ conv.weight.astype(np.int64)
            else:
                acc[:, i, j] = padded[:, i + 1, j + 1] @ conv.weight.astype(np.int64)
    out = np.empty(acc.shape, dtype=np.int8)
    for idx in np.ndindex(*acc.shape):
        ch = idx[-1]
        out[idx] = _reference_requantise(
            int(acc[idx]),
            int(conv.bias[ch]),
            int(conv.multiplier[ch]),
            int(conv.shift[ch]),
            conv.out_zp,
            conv.clamp_min,
            conv.clamp_max,
        )
    return out


@pytest.mark.parametrize(
    ("kind", "cin", "cout", "stride"),
    [("dw", 6, 6, 1), ("dw", 6, 6, 2), ("stem", 3, 4, 2), ("pw", 7, 5, 1)],
)
def test_conv_kernels_match_reference(kind: str, cin: int, cout: int, stride: int) -> None:
    conv = _random_conv(kind, cin, cout, stride, seed=cin * 10 + stride)
    x = np.random.default_rng(1).integers(-128, 128, size=(2, 7, 8, cin)).astype(np.int8)
    np.testing.assert_array_equal(conv_forward(prepare_conv(conv), x), _reference_conv(conv, x))
