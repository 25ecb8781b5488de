"""Integer-only kernels for the exact tier: same bytes on every CPU, thread count and batch.

GEMMs run in float only as an exact integer carrier: int8 x int8 products summed over K
stay exactly representable while K * 128 * 127 < 2^24 (float32) or < 2^53 (float64), so
BLAS blocking, threading and FMA cannot change the result. Everything else is int32/int64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from p2pfleet.inference.geometry import im2col_3x3, out_size, pad_hw, taps_3x3
from p2pfleet.inference.qmodel import QuantAdd, QuantConv, QuantMobileNetV2, QuantPool

Int8Array = npt.NDArray[np.int8]
Int32Array = npt.NDArray[np.int32]
FLOAT32_EXACT_LIMIT = 1 << 24  # float32 represents every integer of magnitude <= 2^24
MAX_PRODUCT = 128 * 127
BLOCK_ELEMENTS = 1 << 15  # int64 work block: 256 KiB, fits in L2


def exact_carrier(k: int) -> type[np.floating[Any]]:
    """The narrowest float type whose GEMM over K int8 products is exact."""
    return np.float32 if k * MAX_PRODUCT < FLOAT32_EXACT_LIMIT else np.float64


def exact_gemm_carrier(
    a: Int8Array, w_carrier: npt.NDArray[np.floating[Any]]
) -> npt.NDArray[np.floating[Any]]:
    """int8 [M,K] x int8 weights (pre-cast to their exact carrier) -> exact integer sums,
    still in the carrier dtype."""
    product: npt.NDArray[np.floating[Any]] = a.astype(w_carrier.dtype) @ w_carrier
    return product


def exact_gemm(a: Int8Array, w_carrier: npt.NDArray[np.floating[Any]]) -> Int32Array:
    """int8 [M,K] x int8 weights (pre-cast to their exact carrier) -> int32 [M,N]."""
    return exact_gemm_carrier(a, w_carrier).astype(np.int32)


def requantise(
    acc: npt.NDArray[Any],
    multiplier: npt.NDArray[np.int64],
    offset: npt.NDArray[np.int64],
    shift: npt.NDArray[np.int64],
    lo: int,
    hi: int,
) -> Int8Array:
    """clamp((acc * multiplier + offset) >> shift, lo, hi) as int8, channels last.

    With offset = bias * multiplier + 2^(shift-1) + (zero_point << shift) this is
    zero_point + round_half_up((acc + bias) * multiplier / 2^shift) (see requant_offset).
    acc holds exact integers (int32 or an exact float carrier). The int64 work runs in
    row blocks that stay in cache; blocking cannot change results.
    """
    channels = acc.shape[-1]
    flat = acc.reshape(-1, channels)
    out = np.empty(flat.shape, dtype=np.int8)
    rows = max(1, BLOCK_ELEMENTS // channels)
    work = np.empty((min(rows, len(flat)), channels), dtype=np.int64)
    for start in range(0, len(flat), rows):
        block = flat[start : start + rows]
        t = work[: len(block)]
        np.copyto(t, block, casting="unsafe")  # exact: the values are integers
        t *= multiplier
        t += offset
        t >>= shift
        np.maximum(t, lo, out=t)
        np.minimum(t, hi, out=t)
        out[start : start + rows] = t
    return out.reshape(acc.shape)


def requant_offset(
    bias: npt.NDArray[np.integer[Any]],
    multiplier: npt.NDArray[np.integer[Any]],
    shift: npt.NDArray[np.integer[Any]],
    zero_point: int,
) -> npt.NDArray[np.int64]:
    """bias*multiplier + 2^(shift-1) + zero_point*2^shift, per channel (int64).

    Adding zero_point * 2^shift before an arithmetic right shift equals adding
    zero_point after it, so one add serves bias, rounding and zero point.
    (qmodel.from_tensors checks these stay far from int64 overflow.)
    """
    b = bias.astype(np.int64)
    m = multiplier.astype(np.int64)
    s = shift.astype(np.int64)
    result: npt.NDArray[np.int64] = b * m + (np.int64(1) << (s - 1)) + (np.int64(zero_point) << s)
    return result


@dataclass(frozen=True)
class PreparedConv:
    """A QuantConv with its weights cast once for the kernels."""

    conv: QuantConv
    weight: npt.NDArray[Any]  # exact float carrier (stem/pw) or int32 (dw)
    multiplier: npt.NDArray[np.int64]
    offset: npt.NDArray[np.int64]
    shift: npt.NDArray[np.int64]


def prepare_conv(conv: QuantConv) -> PreparedConv:
    if conv.kind == "dw":
        weight: npt.NDArray[Any] = conv.weight.astype(np.int32)
    else:
        weight = conv.weight.astype(exact_carrier(conv.weight.shape[0]))
    offset = requant_offset(conv.bias, conv.multiplier, conv.shift, conv.out_zp)
    return PreparedConv(
        conv, weight, conv.multiplier.astype(np.int64), offset, conv.shift.astype(np.int64)
    )


def conv_forward(layer: PreparedConv, x: Int8Array) -> Int8Array:
    """One convolution + bias + requantise + (ReLU6 as clamp) on int8 NHWC."""
    conv = layer.conv
    n, h, w, c = x.shape
    if conv.kind == "dw":
        return depthwise_3x3(layer, x)
    if conv.kind == "pw":
        acc = exact_gemm_carrier(x.reshape(-1, c), layer.weight).reshape(n, h, w, -1)
    else:
        cols = im2col_3x3(pad_hw(x, conv.in_zp), conv.stride)
        acc = exact_gemm_carrier(cols.reshape(-1, cols.shape[-1]), layer.weight)
        acc = acc.reshape(*cols.shape[:3], -1)
    return _requantise_layer(layer, acc)


def _requantise_layer(layer: PreparedConv, acc: npt.NDArray[Any]) -> Int8Array:
    conv = layer.conv
    return requantise(
        acc, layer.multiplier, layer.offset, layer.shift, conv.clamp_min, conv.clamp_max
    )


def depthwise_3x3(layer: PreparedConv, x: Int8Array) -> Int8Array:
    """Depthwise 3x3 padded with the input zero point: nine shifted views summed in int32,
    one image and a few output rows at a time so the int32 work stays in cache."""
    conv = layer.conv
    stride = conv.stride
    padded = pad_hw(x, conv.in_zp)
    n, hp, wp, c = padded.shape
    out_h, out_w = out_size(hp - 2, stride), out_size(wp - 2, stride)
    out = np.empty((n, out_h, out_w, c), dtype=np.int8)
    rows = max(1, BLOCK_ELEMENTS // (out_w * c))
    for image in range(n):
        for r0 in range(0, out_h, rows):
            r1 = min(out_h, r0 + rows)
            window = padded[image : image + 1, r0 * stride : (r1 - 1) * stride + 3]
            acc: Int32Array | None = None
            for ky, kx, view in taps_3x3(window.astype(np.int32), stride):
                term = view * layer.weight[ky, kx]
                if acc is None:
                    acc = term
                else:
                    acc += term
            assert acc is not None
            out[image, r0:r1] = _requantise_layer(layer, acc)[0]
    return out


def residual_add(add: QuantAdd, x1: Int8Array, x2: Int8Array) -> Int8Array:
    """z_out + round_half_up(((x1-z1)*m1 + (x2-z2)*m2) / 2^shift), clamped."""
    total = (x1.astype(np.int64) - add.z1) * add.m1
    total += (x2.astype(np.int64) - add.z2) * add.m2
    total += 1 << (add.shift - 1)
    total >>= add.shift
    total += add.z_out
    np.clip(total, add.clamp_min, add.clamp_max, out=total)
    return total.astype(np.int8)


def global_average_pool(pool: QuantPool, x: Int8Array) -> Int8Array:
    """Integer sum over H and W, then a fixed-point divide by H*W (folded in the multiplier)."""
    _, h, w, _ = x.shape
    sums = x.astype(np.int32).sum(axis=(1, 2), dtype=np.int32) - np.int32(h * w * pool.in_zp)
    multiplier = np.array([pool.multiplier], dtype=np.int64)
    shift = np.array([pool.shift], dtype=np.int64)
    offset = requant_offset(np.zeros(1, dtype=np.int64), multiplier, shift, pool.out_zp)
    return requantise(sums, multiplier, offset, shift, -128, 127)


class Int8MobileNetV2:
    """Runs a QuantMobileNetV2 on raw uint8 pixels; returns int32 logit accumulators."""

    def __init__(self, model: QuantMobileNetV2) -> None:
        self._model = model
        self._lut_flat = model.input_lut.reshape(-1)
        self._stem = prepare_conv(model.stem)
        self._blocks = [
            ([prepare_conv(c) for c in block.convs], block.add) for block in model.blocks
        ]
        self._head = prepare_conv(model.head)
        self._fc_weight = model.fc_weight.astype(exact_carrier(model.fc_weight.shape[0]))
        self._fc_bias = model.fc_bias

    def quantise_input(self, images: npt.NDArray[np.uint8]) -> Int8Array:
        """Per-channel lookup: uint8 pixel -> int8 normalised input."""
        index = images.astype(np.intp) + np.arange(3, dtype=np.intp) * 256
        result: Int8Array = self._lut_flat[index]
        return result

    def forward(self, images: npt.NDArray[np.uint8]) -> Int32Array:
        x = conv_forward(self._stem, self.quantise_input(images))
        for convs, add in self._blocks:
            y = x
            for layer in convs:
                y = conv_forward(layer, y)
            x = residual_add(add, x, y) if add is not None else y
        x = conv_forward(self._head, x)
        pooled = global_average_pool(self._model.pool, x)
        logits = exact_gemm(pooled, self._fc_weight)
        logits += self._fc_bias
        return logits
