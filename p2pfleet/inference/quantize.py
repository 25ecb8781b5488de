"""Build time: turn the folded float MobileNetV2 into the integer-only model.

Weights: int8, symmetric, per output channel (classifier: per tensor, so the int32 logits
share one scale). Activations: int8 with a zero point, ranges calibrated (min/max) on the
bundled sample photos with a float64 forward. Ranges are widened to a coarse binary grid
so float noise between machines cannot change a scale and hence the model bytes.
All floats are consumed here; the result holds only integers (+ a display logit scale).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from p2pfleet.inference.mobilenet_v2 import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    FloatArray,
    FoldedConv,
    FoldedMobileNetV2,
    float_forward,
)
from p2pfleet.inference.qmodel import (
    MAX_SHIFT,
    MIN_SHIFT,
    QuantAdd,
    QuantBlock,
    QuantConv,
    QuantMobileNetV2,
    QuantPool,
)

RANGE_MANTISSA_BITS = 6
RELU6_MAX = 6.0


@dataclass(frozen=True)
class ActQuant:
    """Affine int8 activation quantisation: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int

    @classmethod
    def from_range(cls, lo: float, hi: float) -> ActQuant:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi - lo <= 0.0:
            hi = lo + 1e-6
        scale = (hi - lo) / 255.0
        zero_point = int(np.clip(round(-128 - lo / scale), -128, 127))
        return cls(scale, zero_point)

    def quantise(self, value: float) -> int:
        return int(np.clip(round(value / self.scale) + self.zero_point, -128, 127))


def widen(value: float) -> float:
    """Round away from zero onto a grid with RANGE_MANTISSA_BITS of mantissa."""
    if value == 0.0:
        return 0.0
    step = 2.0 ** (math.floor(math.log2(abs(value))) - RANGE_MANTISSA_BITS)
    return math.copysign(math.ceil(abs(value) / step) * step, value)


def fixed_point(real: float) -> tuple[int, int]:
    """real ~= multiplier / 2^shift with multiplier in [2^30, 2^31) (or 0)."""
    if real <= 0.0:
        return 0, MIN_SHIFT
    mantissa, exponent = math.frexp(real)  # real = mantissa * 2^exponent, mantissa in [0.5,1)
    multiplier = round(mantissa * (1 << 31))
    if multiplier == 1 << 31:
        multiplier //= 2
        exponent += 1
    shift = 31 - exponent
    if not MIN_SHIFT <= shift <= MAX_SHIFT:
        raise ValueError(f"requantisation scale {real!r} is outside the fixed-point range")
    return multiplier, shift


def calibrate(model: FoldedMobileNetV2, images: npt.NDArray[np.uint8]) -> dict[str, ActQuant]:
    """Activation quantisation per observed point, from min/max over the images."""
    ranges: dict[str, tuple[float, float]] = {}

    def observe(name: str, value: FloatArray) -> None:
        lo, hi = float(value.min()), float(value.max())
        old = ranges.get(name, (lo, hi))
        ranges[name] = (min(old[0], lo), max(old[1], hi))

    for start in range(0, len(images), 4):
        float_forward(model, images[start : start + 4], dtype=np.float64, observer=observe)
    return {
        name: ActQuant.from_range(
            widen(lo), min(widen(hi), RELU6_MAX) if _is_relu6(model, name) else widen(hi)
        )
        for name, (lo, hi) in ranges.items()
    }


def _is_relu6(model: FoldedMobileNetV2, name: str) -> bool:
    convs = [model.stem, *(c for b in model.blocks for c in b.convs), model.head]
    return any(c.name == name and c.relu6 for c in convs)


def input_quant() -> ActQuant:
    lows = [(0.0 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    highs = [(1.0 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    return ActQuant.from_range(widen(min(lows)), widen(max(highs)))


def input_lut(quant: ActQuant) -> npt.NDArray[np.int8]:
    """[3,256]: pixel p of channel c -> quantised (p/255 - mean_c)/std_c."""
    pixels = np.arange(256, dtype=np.float64) / 255.0
    mean = np.asarray(IMAGENET_MEAN)[:, None]
    std = np.asarray(IMAGENET_STD)[:, None]
    q = np.round((pixels[None, :] - mean) / std / quant.scale) + quant.zero_point
    lut: npt.NDArray[np.int8] = np.clip(q, -128, 127).astype(np.int8)
    return lut


def quantise_weights(
    weight: npt.NDArray[np.float64], per_channel: bool = True
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float64]]:
    """Symmetric int8 in [-127,127], one scale per output channel (last axis)."""
    axes = tuple(range(weight.ndim - 1))
    peak = (
        np.abs(weight).max(axis=axes)
        if per_channel
        else np.full(weight.shape[-1], np.abs(weight).max())
    )
    scale = np.where(peak > 0, peak / 127.0, 1.0)
    q = np.clip(np.round(weight / scale), -127, 127).astype(np.int8)
    return q, scale


def _int32(values: npt.NDArray[Any], what: str) -> npt.NDArray[np.int32]:
    if np.abs(values).max(initial=0) >= 2**31:
        raise ValueError(f"{what} overflows int32")
    return values.astype(np.int32)


def quantise_conv(layer: FoldedConv, act_in: ActQuant, act_out: ActQuant) -> QuantConv:
    weight = (
        layer.weight.reshape(-1, layer.weight.shape[-1]) if layer.kind == "stem" else (layer.weight)
    )
    w_q, w_scale = quantise_weights(weight)
    bias_q = np.round(layer.bias / (act_in.scale * w_scale)).astype(np.int64)
    axes = tuple(range(w_q.ndim - 1))
    bias_q -= act_in.zero_point * w_q.astype(np.int64).sum(axis=axes)
    pairs = [fixed_point(act_in.scale * s / act_out.scale) for s in w_scale]
    lo, hi = -128, 127
    if layer.relu6:
        lo, hi = max(lo, act_out.quantise(0.0)), act_out.quantise(RELU6_MAX)
    return QuantConv(
        layer.name,
        layer.kind,
        layer.stride,
        w_q,
        _int32(bias_q, f"{layer.name} bias"),
        np.asarray([m for m, _ in pairs], dtype=np.int32),
        np.asarray([s for _, s in pairs], dtype=np.int32),
        act_in.zero_point,
        act_out.zero_point,
        lo,
        hi,
    )


def quantise_add(a: ActQuant, b: ActQuant, out: ActQuant) -> QuantAdd:
    ratio = max(a.scale, b.scale) / out.scale
    shift = min(MAX_SHIFT - 8, 29 - math.floor(math.log2(ratio)))
    if shift < MIN_SHIFT:
        raise ValueError("residual add scales are too far apart for fixed point")
    m1 = round(a.scale / out.scale * 2.0**shift)
    m2 = round(b.scale / out.scale * 2.0**shift)
    return QuantAdd(a.zero_point, b.zero_point, out.zero_point, m1, m2, shift, -128, 127)


def quantise_model(
    model: FoldedMobileNetV2, acts: dict[str, ActQuant]
) -> tuple[QuantMobileNetV2, float]:
    """The integer model and its logit scale (display only)."""
    act_in = input_quant()
    stem = quantise_conv(model.stem, act_in, acts[model.stem.name])
    current = acts[model.stem.name]
    blocks = []
    for block in model.blocks:
        block_in, act, convs = current, current, []
        for layer in block.convs:
            convs.append(quantise_conv(layer, act, acts[layer.name]))
            act = acts[layer.name]
        add = None
        if block.residual:
            current = acts[f"{block.name}.add"]
            add = quantise_add(block_in, act, current)
        else:
            current = act
        blocks.append(QuantBlock(block.name, tuple(convs), add))
    head = quantise_conv(model.head, current, acts[model.head.name])
    head_act, pool_act = acts[model.head.name], acts["pool"]
    spatial = 7 * 7
    pool_m, pool_s = fixed_point(head_act.scale / (spatial * pool_act.scale))
    pool = QuantPool(head_act.zero_point, pool_act.zero_point, pool_m, pool_s)
    fc_q, fc_scale = quantise_weights(model.fc_weight, per_channel=False)
    logit_scale = float(pool_act.scale * fc_scale[0])
    fc_bias = np.round(model.fc_bias / logit_scale).astype(np.int64)
    fc_bias -= pool_act.zero_point * fc_q.astype(np.int64).sum(axis=0)
    quant = QuantMobileNetV2(
        input_lut(act_in), stem, tuple(blocks), head, pool, fc_q, _int32(fc_bias, "fc bias")
    )
    return quant, logit_scale
