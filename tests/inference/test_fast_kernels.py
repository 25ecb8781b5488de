"""The float-carrier fast path against the int64 reference path: identical bytes, and
the load-time bound check that picks between them."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from p2pfleet.inference import fast_kernels, int8_kernels
from p2pfleet.inference.exact_bounds import F64_EXACT, NotExact, check_requantisation
from p2pfleet.inference.geometry import pad_hw
from p2pfleet.inference.modelfile import decode_model
from p2pfleet.inference.qmodel import QuantConv, QuantMobileNetV2, from_tensors
from p2pfleet.inference.runtime import (
    POOL_SPATIAL,
    LoadedModel,
    exact_network,
    load_model,
    run_shard,
)
from p2pfleet.inference.tensors import encode_tensor

from .test_int8_kernels import _random_conv, _reference_requantise


def _digest(outputs: npt.NDArray[np.int32]) -> str:
    return hashlib.sha256(encode_tensor(outputs)).hexdigest()


@pytest.fixture(scope="module")
def quant(model_bytes: bytes) -> QuantMobileNetV2:
    return from_tensors(decode_model(model_bytes).tensors)


def _edge_images() -> npt.NDArray[np.uint8]:
    rng = np.random.default_rng(4)
    noise = rng.integers(0, 256, size=(2, 224, 224, 3), dtype=np.uint8)
    checker = (np.indices((224, 224, 3)).sum(axis=0) % 2 * 255).astype(np.uint8)
    black, white = np.zeros_like(checker), np.full_like(checker, 255)
    return np.concatenate([noise, np.stack([black, white, checker])])


def test_built_model_loads_on_the_fast_path(
    model: LoadedModel, model_bytes: bytes, photo_batch: npt.NDArray[np.uint8]
) -> None:
    assert model.fast_kernels
    reference = load_model(model_bytes, reference_kernels=True)
    assert not reference.fast_kernels
    images = photo_batch[:3]
    assert run_shard(model, encode_tensor(images)) == run_shard(reference, encode_tensor(images))


def test_fast_and_reference_paths_give_identical_bytes(
    quant: QuantMobileNetV2, photo_batch: npt.NDArray[np.uint8]
) -> None:
    fast = exact_network(quant)
    assert isinstance(fast, fast_kernels.FastMobileNetV2)
    reference = int8_kernels.Int8MobileNetV2(quant)
    for images in (photo_batch, _edge_images()):
        expected = reference.forward(images)
        got = fast.forward(images)
        assert got.dtype == np.int32
        assert _digest(got) == _digest(expected)


def _fast_conv(conv: QuantConv, x: npt.NDArray[np.int8], centre: int) -> npt.NDArray[np.int8]:
    """Run one conv on the fast path with inputs carried as x - centre; back to int8."""
    layer, carried = fast_kernels.plan_conv(conv, fast_kernels.Carried((-128, 127), centre))
    y = x.astype(np.float32) - centre
    if conv.kind != "pw":
        y = pad_hw(y, layer.pad)
    out = fast_kernels.conv_forward(layer, y)
    assert np.array_equal(out, np.floor(out))
    return (out + carried.centre).astype(np.int8)


CONV_CASES = [("dw", 6, 6, 1), ("dw", 70, 70, 2), ("stem", 3, 4, 2), ("pw", 7, 5, 1)]


@pytest.mark.parametrize(
    ("kind", "cin", "cout", "stride", "centre"),
    [(*case, centre) for case in CONV_CASES for centre in (0, -128, 37)]
    + [("pw", 960, 9, 1, 0)],  # K=960 full-scale columns: exact through the window rule
)
def test_fast_conv_matches_reference_at_the_extremes(
    kind: str, cin: int, cout: int, stride: int, centre: int
) -> None:
    """Bytes equal the int64 reference at full-scale weights, top multipliers and
    extreme inputs, with the input carried around several centres."""
    conv = _random_conv(kind, cin, cout, stride, seed=cin + stride)
    weight = conv.weight.copy()
    weight[..., 0] = -127
    weight[..., 1] = 127
    multiplier = conv.multiplier.copy()
    multiplier[:2] = 2**31 - 1
    conv = dataclasses.replace(conv, weight=weight, multiplier=multiplier)
    rng = np.random.default_rng(cin * cout)
    x = rng.integers(-128, 128, size=(2, 9, 8, cin)).astype(np.int8)
    x[0] = -128
    x[1, :4] = 127
    expected = int8_kernels.conv_forward(int8_kernels.prepare_conv(conv), x)
    np.testing.assert_array_equal(_fast_conv(conv, x, centre), expected)


@settings(max_examples=300, deadline=None)
@given(
    m=st.integers(0, 2**31 - 1),
    s=st.integers(1, 62),
    bound=st.integers(0, 2**24),
    fraction=st.floats(-1.0, 1.0),
    target=st.integers(-140, 140),
    delta=st.integers(-2, 2),
)
def test_requantisation_is_exact_whenever_the_check_passes(
    m: int, s: int, bound: int, fraction: float, target: int, delta: int
) -> None:
    """Aim the exact result a hair either side of an integer near the clip window, where a
    rounding float would floor differently; the check must refuse or the result be exact."""
    acc = int(bound * fraction)
    offset = (target << s) + delta - acc * m  # so acc*m + offset = target*2^s + delta
    window = (-100, 120)
    try:
        check_requantisation([bound * m], [offset], [s], window, "t")
    except NotExact:
        assume(False)
    requant = fast_kernels.plan_requant(
        np.array([m]), np.array([s]), [bound], [offset], window, "t"
    )
    out = np.empty((1, 1), dtype=np.float32)
    requant.apply(np.array([[acc]], dtype=np.float64), out)
    exact = max(window[0], min(window[1], (acc * m + offset) >> s))
    assert int(out[0, 0]) == exact


def test_requantisation_check_refuses_what_float64_cannot_hold() -> None:
    # (a) holds just below 2^53, fails at it unless the window argument (b) saves it
    check_requantisation([F64_EXACT - 2], [1], [40], (0, 255), "ok")
    with pytest.raises(NotExact):  # the same centre -128 that is fine for K=9 taps
        fast_kernels.plan_conv(
            dataclasses.replace(
                _random_conv("pw", 960, 9, 1, seed=961),
                weight=np.full((960, 9), -127, dtype=np.int8),
            ),
            fast_kernels.Carried((-128, 127), -128),
        )
    with pytest.raises(NotExact, match="channel 0"):
        check_requantisation([F64_EXACT], [1 << 45], [46], (0, 255), "big")
    # (b): products beyond 2^53 are fine when 2^53 lies far outside the clip window
    check_requantisation([F64_EXACT * 4], [1 << 30], [40], (0, 255), "ok")
    with pytest.raises(NotExact, match="offset"):
        check_requantisation([0], [F64_EXACT], [1], (0, 255), "offset")


def test_reference_requantise_formula_agrees_with_fast_apply() -> None:
    rng = np.random.default_rng(9)
    m = rng.integers(2**30, 2**31, size=16)
    s = rng.integers(30, 47, size=16)
    bias = rng.integers(-(2**18), 2**18, size=16)
    acc = rng.integers(-(2**21), 2**21, size=(64, 16))
    offsets = [
        int(b) * int(mi) + (1 << (int(si) - 1)) for b, mi, si in zip(bias, m, s, strict=True)
    ]
    requant = fast_kernels.plan_requant(m, s, [2**21] * 16, offsets, (-128, 127), "t")
    out = np.empty(acc.shape, dtype=np.float32)
    requant.apply(acc.astype(np.float32), out)
    for (row, ch), value in np.ndenumerate(out):
        expected = _reference_requantise(
            int(acc[row, ch]), int(bias[ch]), int(m[ch]), int(s[ch]), 0, -128, 127
        )
        assert int(value) == expected


def test_fallback_engages_when_the_bound_fails(
    quant: QuantMobileNetV2, photo_batch: npt.NDArray[np.uint8]
) -> None:
    """A model whose numbers break the float64 bound still runs, on the int64 kernels,
    with the same bytes as the reference."""
    block = quant.blocks[12]
    expand = block.convs[0]
    bias = expand.bias.copy()
    bias[3] = 2**24  # bias * multiplier > 2^53: the offset alone is not exact in float64
    multiplier = expand.multiplier.copy()
    multiplier[3] = 2**31 - 1
    broken_conv = dataclasses.replace(expand, bias=bias, multiplier=multiplier)
    broken_block = dataclasses.replace(block, convs=(broken_conv, *block.convs[1:]))
    blocks = (*quant.blocks[:12], broken_block, *quant.blocks[13:])
    broken = dataclasses.replace(quant, blocks=blocks)
    with pytest.raises(NotExact, match=f"{expand.name}: channel 3"):
        fast_kernels.FastMobileNetV2(broken, POOL_SPATIAL)
    net = exact_network(broken)
    assert isinstance(net, int8_kernels.Int8MobileNetV2)
    images = photo_batch[:2]
    expected = int8_kernels.Int8MobileNetV2(broken).forward(images)
    assert _digest(net.forward(images)) == _digest(expected)


@pytest.mark.parametrize("bias", [0, 2**23 - 2**15])
def test_fused_pointwise_gemm_only_where_its_bound_holds(bias: int) -> None:
    """Small-K pointwise convs fold the requantisation into one float64 GEMM; a bias too
    large for that bound (bias * m near 2^53) keeps the separate requantisation, which
    the clip-window rule still proves exact, with the same bytes."""
    conv = _random_conv("pw", 7, 5, 1, seed=3)
    conv = dataclasses.replace(
        conv,
        bias=np.array([bias, -bias, bias, 0, 17], dtype=np.int32),
        multiplier=np.full(5, 2**30, dtype=np.int32),
        shift=np.array([36, 36, 36, 40, 38], dtype=np.int32),
    )
    layer, _ = fast_kernels.plan_conv(conv, fast_kernels.Carried((-128, 127), 0))
    assert layer.fused == (bias == 0)
    x = np.random.default_rng(5).integers(-128, 128, size=(3, 5, 6, 7)).astype(np.int8)
    expected = int8_kernels.conv_forward(int8_kernels.prepare_conv(conv), x)
    np.testing.assert_array_equal(_fast_conv(conv, x, 0), expected)
