"""The exact tier's fast path: int8_kernels' integer semantics, run on float carriers.

Every value here is an integer (or an integer times a power of two) that its float type
represents exactly, so the bytes equal the int64 reference path's on every CPU, BLAS
kernel and thread count; exact_bounds proves that per layer when the model is loaded.
- Activations travel as float32 holding q - centre, centre = the producing layer's
  output zero point (|q - centre| <= 255). The centre folds into the next layer's
  bias, so requantisation never adds zero_point << shift, whose size would break the
  float64 bound at large shifts.
- GEMMs (stem, pointwise, classifier) run on float32 when every partial sum stays
  below 2^24, else float64; depthwise 3x3 is nine float32 multiply-adds (< 2^24), by
  einsum over a window view (shifted views when channels are few).
- Requantisation: floor(clip(acc * m*2^-s + offset*2^-s, lo, hi)) in float64, written
  straight into the next layer's float32 input (no int64 work, no int8 round trip);
  small-K pointwise convs fold it into one float64 GEMM with a ones column.
- Layers feeding a depthwise conv write their output pre-padded for it.
Work runs in blocks sized for L2 and few BLAS calls; blocking cannot change an exact
result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from p2pfleet.inference.exact_bounds import (
    NotExact,
    ValueRange,
    accumulator_bounds,
    check_requantisation,
    fused_gemm_is_exact,
    gemm_carrier,
    max_abs,
)
from p2pfleet.inference.geometry import im2col_3x3, out_size, pad_hw, taps_3x3, windows_3x3
from p2pfleet.inference.int8_kernels import BLOCK_ELEMENTS  # L2-sized blocks, as there
from p2pfleet.inference.qmodel import QuantAdd, QuantConv, QuantMobileNetV2, QuantPool

F32Array = npt.NDArray[np.float32]
EINSUM_MIN_CHANNELS = 64  # depthwise: einsum from here, shifted views below
GEMM_BLOCK_ELEMENTS = 1 << 20  # outputs per BLAS call
FUSED_MAX_K = 32  # pointwise: one float64 GEMM does the requantisation up to this K


@dataclass(frozen=True)
class Carried:
    """What a float32 activation tensor holds: q - centre, with q in raw_range."""

    raw_range: ValueRange
    centre: int

    @property
    def values(self) -> ValueRange:
        return self.raw_range[0] - self.centre, self.raw_range[1] - self.centre


@dataclass(frozen=True)
class Requant:
    """Per-channel floor(clip(acc * scale + offset, lo, hi)), proven exact at plan time."""

    scale: npt.NDArray[np.float64]  # multiplier * 2^-shift
    offset: npt.NDArray[np.float64]  # (integer offset) * 2^-shift
    lo: float
    hi: float

    def apply(self, acc: npt.NDArray[Any], out: F32Array) -> None:
        work = np.multiply(acc, self.scale, dtype=np.float64)
        work += self.offset
        np.clip(work, self.lo, self.hi, out=work)
        np.floor(work, out=out)  # integers in [lo, hi]: exact in float32

    def finish(self, scaled: npt.NDArray[np.float64], out: F32Array) -> None:
        """The tail of apply for a fused GEMM that already added scale and offset.
        Floor is exact in float64; the cast to float32 can only round values beyond
        2^24, monotonically, so they clip to the same bound as in apply."""
        np.floor(scaled, out=out)
        np.clip(out, self.lo, self.hi, out=out)


def plan_requant(
    multiplier: npt.NDArray[np.integer[Any]],
    shift: npt.NDArray[np.integer[Any]],
    acc_bounds: list[int],
    offsets: list[int],
    window: ValueRange,
    what: str,
) -> Requant:
    m, s = [int(v) for v in multiplier], [int(v) for v in shift]
    products = [a * mi for a, mi in zip(acc_bounds, m, strict=True)]
    check_requantisation(products, offsets, s, window, what)
    exponents = -np.asarray(s, dtype=np.int32)
    return Requant(
        np.ldexp(np.asarray(m, dtype=np.float64), exponents),
        np.ldexp(np.asarray(offsets, dtype=np.float64), exponents),
        float(window[0]),
        float(window[1]),
    )


@dataclass(frozen=True)
class FastConv:
    kind: str
    stride: int
    weight: npt.NDArray[Any]  # float carrier: [K,Cout] (stem, pw) or [3,3,C] (dw)
    pad: float  # the input zero point, as carried
    requant: Requant
    pad_out: float | None = None  # the next layer's pad when it is a 3x3 conv
    fused: bool = False  # weight = [w * m*2^-s; offset*2^-s] in float64 (pointwise only)


def plan_conv(conv: QuantConv, source: Carried) -> tuple[FastConv, Carried]:
    """Fold the carried centre into the bias and prove every float step exact."""
    pad = conv.in_zp - source.centre
    lo, hi = source.values
    inputs = (min(lo, pad), max(hi, pad)) if conv.kind != "pw" else (lo, hi)
    w2d = conv.weight.astype(np.int64).reshape(-1, conv.weight.shape[-1])
    carrier = gemm_carrier(w2d, inputs, conv.name)
    if conv.kind == "dw" and carrier is not np.float32:
        raise NotExact(f"{conv.name}: depthwise taps exceed float32's exact range")
    # acc_ref + bias = sum (y + centre) w + bias = acc + (bias + centre * sum w)
    bias = [
        int(b) + source.centre * int(t) for b, t in zip(conv.bias, w2d.sum(axis=0), strict=True)
    ]
    offsets = [
        b * int(m) + (1 << (int(s) - 1))
        for b, m, s in zip(bias, conv.multiplier, conv.shift, strict=True)
    ]
    window = (conv.clamp_min - conv.out_zp, conv.clamp_max - conv.out_zp)
    requant = plan_requant(
        conv.multiplier,
        conv.shift,
        accumulator_bounds(w2d, inputs),
        offsets,
        window,
        conv.name,
    )
    result = Carried((conv.clamp_min, conv.clamp_max), conv.out_zp)
    multipliers = [int(m) for m in conv.multiplier]
    if (
        conv.kind == "pw"
        and w2d.shape[0] <= FUSED_MAX_K
        and fused_gemm_is_exact(w2d, inputs, multipliers, offsets)
    ):
        scaled = conv.weight.astype(np.float64) * requant.scale  # exact: w*m < 2^39
        fused = np.vstack([scaled, requant.offset[None, :]])
        return FastConv(conv.kind, conv.stride, fused, float(pad), requant, fused=True), result
    weight = conv.weight.astype(carrier)
    return FastConv(conv.kind, conv.stride, weight, float(pad), requant), result


class Scratch:
    """Output buffers reused within one forward pass, by role. A fresh multi-megabyte
    array per layer costs page faults that rival the arithmetic; per pass (not per
    model) so concurrent runs never share one and nothing is held between runs."""

    def __init__(self) -> None:
        self._buffers: dict[str, F32Array] = {}

    def take(self, role: str | None, shape: tuple[int, ...]) -> F32Array:
        if role is None:
            return np.empty(shape, dtype=np.float32)
        size = math.prod(shape)
        buffer = self._buffers.get(role)
        if buffer is None or buffer.size < size:
            buffer = np.empty(size, dtype=np.float32)
            self._buffers[role] = buffer
        return buffer[:size].reshape(shape)


def conv_forward(
    layer: FastConv, y: F32Array, scratch: Scratch | None = None, role: str | None = None
) -> F32Array:
    """One convolution + requantisation on a carried NHWC tensor (3x3 kinds take it
    padded). With layer.pad_out the result comes back padded by one pixel of that value,
    ready for the following 3x3 convolution, so no separate padding copy is made.
    The result goes to scratch's buffer for role (which must not hold y), if given."""
    make = partial((scratch or Scratch()).take, role)
    if layer.kind == "dw":
        return _depthwise(layer, y, _padded_output(make, y.shape, layer))
    if layer.kind == "stem":
        y = im2col_3x3(y, layer.stride)
    return _gemm_requant(layer, y, _padded_output(make, y.shape, layer))


def _padded_output(
    make: Callable[[tuple[int, ...]], F32Array],
    in_shape: tuple[int, ...],
    layer: FastConv,
) -> F32Array:
    """The NHWC output buffer of layer for input in_shape; with layer.pad_out, one pixel
    larger all round with the border set to it."""
    n, h, w = in_shape[:3]
    if layer.kind == "dw":
        h, w = out_size(h - 2, layer.stride), out_size(w - 2, layer.stride)
    c = layer.weight.shape[-1]
    pad = layer.pad_out
    if pad is None:
        return make((n, h, w, c))
    out = make((n, h + 2, w + 2, c))
    for border in (out[:, 0], out[:, -1], out[:, :, 0], out[:, :, -1]):
        border.fill(pad)
    return out


def _interior(out: F32Array, pad: float | None) -> F32Array:
    return out if pad is None else out[:, 1:-1, 1:-1]


def _gemm_requant(layer: FastConv, x: F32Array, out: F32Array) -> F32Array:
    """x [N,H,W,K] @ weight, requantised. Each GEMM takes many whole image rows, across
    images (few BLAS calls: BLAS threads synchronise once per call); requantisation
    walks each result in L2-sized sub-blocks that never straddle two images."""
    n, h, w, k = x.shape
    channels = layer.weight.shape[-1]
    target = _interior(out, layer.pad_out)
    flat = x.reshape(n * h, w, k)  # image rows
    rows = max(1, GEMM_BLOCK_ELEMENTS // (w * channels))
    sub = max(1, BLOCK_ELEMENTS // (w * channels))
    if layer.fused:  # inputs plus a column of ones that picks up the offset row
        extended = np.empty((min(rows, n * h) * w, k + 1), dtype=np.float64)
        extended[:, k] = 1.0
    for g0 in range(0, n * h, rows):
        block = flat[g0 : g0 + rows].reshape(-1, k)
        if layer.fused:
            ext = extended[: len(block)]
            ext[:, :k] = block
            acc = ext @ layer.weight
        else:
            acc = block.astype(layer.weight.dtype, copy=False) @ layer.weight
        acc = acc.reshape(-1, w, channels)
        s0 = 0
        while s0 < len(acc):
            image, r0 = divmod(g0 + s0, h)
            count = min(sub, len(acc) - s0, h - r0)
            dest = target[image, r0 : r0 + count]
            if layer.fused:
                layer.requant.finish(acc[s0 : s0 + count], dest)
            else:
                layer.requant.apply(acc[s0 : s0 + count], dest)
            s0 += count
    return out


def _depthwise(layer: FastConv, padded: F32Array, out: F32Array) -> F32Array:
    """Nine taps summed in float32 (exact: |sum| < 2^24), a few output rows at a time.

    Wide tensors use one einsum over the 3x3 window view (no temporaries); narrow ones
    (few channels, where einsum's inner loop is short) multiply-add nine shifted views
    against taps pre-broadcast along the row, so every inner loop spans a whole row."""
    stride = layer.stride
    windows = windows_3x3(padded, stride)
    n, out_h, out_w, _, _, c = windows.shape
    target = _interior(out, layer.pad_out)
    rows = max(1, BLOCK_ELEMENTS // (out_w * c))
    acc = np.empty((rows, out_w, c), dtype=np.float32)
    narrow = c < EINSUM_MIN_CHANNELS
    if narrow:
        taps = np.ascontiguousarray(np.broadcast_to(layer.weight[:, :, None, :], (3, 3, out_w, c)))
        term = np.empty_like(acc)
    for image in range(n):
        for r0 in range(0, out_h, rows):
            r1 = min(out_h, r0 + rows)
            a = acc[: r1 - r0]
            if narrow:
                window = padded[image : image + 1, r0 * stride : (r1 - 1) * stride + 3]
                t = term[: r1 - r0]
                for ky, kx, view in taps_3x3(window, stride):
                    if ky == 0 and kx == 0:
                        np.multiply(view[0], taps[0, 0], out=a)
                    else:
                        np.multiply(view[0], taps[ky, kx], out=t)
                        a += t
            else:
                np.einsum("hwijc,ijc->hwc", windows[image, r0:r1], layer.weight, out=a)
            layer.requant.apply(a, target[image, r0:r1])
    return out


@dataclass(frozen=True)
class FastAdd:
    m1: float
    m2: float
    requant: Requant  # applied to y1 * m1 + y2 * m2 (its multiplier is 1)


def plan_add(add: QuantAdd, first: Carried, second: Carried) -> tuple[FastAdd, Carried]:
    """(x1-z1)*m1 + (x2-z2)*m2 = y1*m1 + y2*m2 + (c1-z1)*m1 + (c2-z2)*m2."""
    offset = (first.centre - add.z1) * add.m1 + (second.centre - add.z2) * add.m2
    offset += 1 << (add.shift - 1)
    bound = max_abs(first.values) * add.m1 + max_abs(second.values) * add.m2
    window = (add.clamp_min - add.z_out, add.clamp_max - add.z_out)
    requant = plan_requant(
        np.ones(1, dtype=np.int64),
        np.array([add.shift]),
        [bound],
        [offset],
        window,
        "residual add",
    )
    fast = FastAdd(float(add.m1), float(add.m2), requant)
    return fast, Carried((add.clamp_min, add.clamp_max), add.z_out)


def residual_add(add: FastAdd, y1: F32Array, y2: F32Array, out: F32Array | None = None) -> F32Array:
    """The requantised sum; out may be y2 (read fully before out is written)."""
    total = np.multiply(y1, add.m1, dtype=np.float64)  # |y*m| < 2^8 * 2^31: exact
    total += np.multiply(y2, add.m2, dtype=np.float64)  # the sum < 2^40: exact
    out = np.empty(y1.shape, dtype=np.float32) if out is None else out
    add.requant.apply(total, out)
    return out


def plan_pool(pool: QuantPool, source: Carried, spatial: int) -> tuple[Requant, Carried]:
    """sum(x) - hw*in_zp = sum(y) + hw*(centre - in_zp), requantised like the reference."""
    offset = spatial * (source.centre - pool.in_zp) * pool.multiplier
    offset += 1 << (pool.shift - 1)
    bound = spatial * max_abs(source.values) * pool.multiplier
    window = (-128 - pool.out_zp, 127 - pool.out_zp)
    requant = plan_requant(
        np.array([pool.multiplier]), np.array([pool.shift]), [bound], [offset], window, "pool"
    )
    return requant, Carried((-128, 127), pool.out_zp)


class FastMobileNetV2:
    """Same contract as int8_kernels.Int8MobileNetV2; raises NotExact from __init__ when
    the model's numbers do not admit the float carrier (use the int64 path then)."""

    def __init__(self, model: QuantMobileNetV2, pool_spatial: int) -> None:
        lut = model.input_lut
        source = Carried((int(lut.min()), int(lut.max())), model.stem.in_zp)
        self._lut = (lut.astype(np.float32) - source.centre).reshape(-1)
        self._stem, source = plan_conv(model.stem, source)
        self._blocks: list[tuple[list[FastConv], FastAdd | None]] = []
        for block in model.blocks:
            block_in, convs = source, []
            for conv in block.convs:
                layer, source = plan_conv(conv, source)
                convs.append(layer)
            add = None
            if block.add is not None:
                add, source = plan_add(block.add, block_in, source)
            self._blocks.append((convs, add))
        self._link_padding()
        self._head, source = plan_conv(model.head, source)
        self._pool_spatial = pool_spatial
        self._pool, source = plan_pool(model.pool, source, pool_spatial)
        fc = model.fc_weight.astype(np.int64)
        self._fc_weight = model.fc_weight.astype(gemm_carrier(fc, source.values, "fc"))
        # logits = (y + centre) @ W + bias; int64, then wrapped to int32 like the reference
        self._fc_bias = model.fc_bias.astype(np.int64) + source.centre * fc.sum(axis=0)

    def _link_padding(self) -> None:
        """Layers feeding a depthwise conv write their output pre-padded for it."""
        previous = self._stem
        for convs, _ in self._blocks:
            for index, layer in enumerate(convs):
                if layer.kind == "dw":
                    linked = replace(previous, pad_out=layer.pad)
                    if index > 0:
                        convs[index - 1] = linked
                    elif previous is self._stem:  # b1.dw directly follows the stem
                        self._stem = linked
                    else:  # qmodel's fixed layout: a structural bug, not a bound
                        raise ValueError("a depthwise conv must follow a convolution")
                previous = layer

    def quantise_input(self, images: npt.NDArray[np.uint8]) -> F32Array:
        index = images.astype(np.intp) + np.arange(3, dtype=np.intp) * 256
        result: F32Array = self._lut[index]
        return result

    def forward(self, images: npt.NDArray[np.uint8]) -> npt.NDArray[np.int32]:
        # buffers: "wide" feeds a depthwise conv, "narrow" leaves one, and the block
        # outputs alternate between two slots so a block's input survives for its add
        scratch, slot = Scratch(), 0
        x = pad_hw(self.quantise_input(images), self._stem.pad)
        x = conv_forward(self._stem, x, scratch, "wide")
        for convs, add in self._blocks:
            y = x
            for layer in convs:
                role = "narrow" if layer.kind == "dw" else f"block{slot}"
                y = conv_forward(layer, y, scratch, "wide" if layer.pad_out is not None else role)
            x = residual_add(add, x, y, out=y) if add is not None else y
            slot = 1 - slot
        x = conv_forward(self._head, x)
        n, h, w, c = x.shape
        if h * w != self._pool_spatial:
            raise ValueError(f"feature map is {h}x{w}; this net was planned for 224x224 inputs")
        pooled = np.empty((n, c), dtype=np.float32)
        self._pool.apply(x.sum(axis=(1, 2), dtype=np.float32), pooled)
        logits = (pooled.astype(self._fc_weight.dtype) @ self._fc_weight).astype(np.int64)
        logits += self._fc_bias
        return logits.astype(np.int32)
