"""The integer-only MobileNetV2: its parameters and their named-tensor form.

Every field is an integer. The graph is fixed by the architecture (block_specs); a
model file only supplies parameters, under these names:
  input.lut                int8  [3,256]   pixel -> quantised normalised value per channel
  <conv>.weight            int8  stem [27,32] (ky,kx,c rows) | dw [3,3,C] | pw [Cin,Cout]
  <conv>.bias              int32 [Cout]    includes -in_zp * sum(weight) for the zero point
  <conv>.multiplier/.shift int32 [Cout]    requantise: (acc*m + 2^(shift-1)) >> shift
  <conv>.params            int32 [6]       kind, stride, in_zp, out_zp, clamp_min, clamp_max
  <block>.add              int32 [8]       z1, z2, z_out, m1, m2, shift, clamp_min, clamp_max
  pool.params              int32 [4]       in_zp, out_zp, multiplier, shift
  fc.weight int8 [1280,1000], fc.bias int32 [1000]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from p2pfleet.inference.mobilenet_v2 import (
    LAST_CHANNELS,
    NUM_CLASSES,
    STEM_CHANNELS,
    ConvKind,
    block_specs,
)

KIND_CODES: dict[ConvKind, int] = {"stem": 0, "dw": 1, "pw": 2}
MIN_SHIFT, MAX_SHIFT = 1, 62

Tensors = dict[str, npt.NDArray[Any]]


class QuantModelError(ValueError):
    """The named tensors do not describe a valid integer MobileNetV2."""


@dataclass(frozen=True)
class QuantConv:
    name: str
    kind: ConvKind
    stride: int
    weight: npt.NDArray[np.int8]
    bias: npt.NDArray[np.int32]
    multiplier: npt.NDArray[np.int32]
    shift: npt.NDArray[np.int32]
    in_zp: int
    out_zp: int
    clamp_min: int
    clamp_max: int


@dataclass(frozen=True)
class QuantAdd:
    z1: int
    z2: int
    z_out: int
    m1: int
    m2: int
    shift: int
    clamp_min: int
    clamp_max: int


@dataclass(frozen=True)
class QuantBlock:
    name: str
    convs: tuple[QuantConv, ...]
    add: QuantAdd | None


@dataclass(frozen=True)
class QuantPool:
    in_zp: int
    out_zp: int
    multiplier: int
    shift: int


@dataclass(frozen=True)
class QuantMobileNetV2:
    input_lut: npt.NDArray[np.int8]
    stem: QuantConv
    blocks: tuple[QuantBlock, ...]
    head: QuantConv
    pool: QuantPool
    fc_weight: npt.NDArray[np.int8]
    fc_bias: npt.NDArray[np.int32]


def expected_layout() -> list[tuple[str, ConvKind, int, int, int, bool]]:
    """(name, kind, cin, cout, stride, relu6) for every conv, in execution order."""
    layout: list[tuple[str, ConvKind, int, int, int, bool]] = [
        ("stem", "stem", 3, STEM_CHANNELS, 2, True)
    ]
    for index, (cin, t, cout, stride) in enumerate(block_specs(), start=1):
        hidden = cin * t
        if t != 1:
            layout.append((f"b{index}.expand", "pw", cin, hidden, 1, True))
        layout.append((f"b{index}.dw", "dw", hidden, hidden, stride, True))
        layout.append((f"b{index}.project", "pw", hidden, cout, 1, False))
    layout.append(("head", "pw", block_specs()[-1][2], LAST_CHANNELS, 1, True))
    return layout


def weight_shape(kind: ConvKind, cin: int, cout: int) -> tuple[int, ...]:
    if kind == "stem":
        return (9 * cin, cout)
    if kind == "dw":
        return (3, 3, cout)
    return (cin, cout)


def to_tensors(model: QuantMobileNetV2) -> Tensors:
    tensors: Tensors = {"input.lut": model.input_lut}
    for conv in _all_convs(model):
        tensors[f"{conv.name}.weight"] = conv.weight
        tensors[f"{conv.name}.bias"] = conv.bias
        tensors[f"{conv.name}.multiplier"] = conv.multiplier
        tensors[f"{conv.name}.shift"] = conv.shift
        tensors[f"{conv.name}.params"] = _ints(
            KIND_CODES[conv.kind],
            conv.stride,
            conv.in_zp,
            conv.out_zp,
            conv.clamp_min,
            conv.clamp_max,
        )
    for block in model.blocks:
        if block.add is not None:
            a = block.add
            tensors[f"{block.name}.add"] = _ints(
                a.z1, a.z2, a.z_out, a.m1, a.m2, a.shift, a.clamp_min, a.clamp_max
            )
    p = model.pool
    tensors["pool.params"] = _ints(p.in_zp, p.out_zp, p.multiplier, p.shift)
    tensors["fc.weight"] = model.fc_weight
    tensors["fc.bias"] = model.fc_bias
    return tensors


def from_tensors(tensors: Tensors) -> QuantMobileNetV2:
    """Rebuild and validate the model; raises QuantModelError naming the bad tensor."""
    used: set[str] = set()

    def take(name: str, dtype: type[np.generic], shape: tuple[int, ...]) -> npt.NDArray[Any]:
        if name not in tensors:
            raise QuantModelError(f"model is missing tensor {name!r}")
        value = tensors[name]
        if value.dtype != np.dtype(dtype) or value.shape != shape:
            raise QuantModelError(
                f"tensor {name!r} is {value.dtype}{list(value.shape)}, "
                f"expected {np.dtype(dtype)}{list(shape)}"
            )
        used.add(name)
        return value

    lut = take("input.lut", np.int8, (3, 256))
    convs: dict[str, QuantConv] = {}
    for name, kind, cin, cout, stride, _relu6 in expected_layout():
        params = [int(v) for v in take(f"{name}.params", np.int32, (6,))]
        if params[0] != KIND_CODES[kind] or params[1] != stride:
            raise QuantModelError(f"{name}.params: kind/stride do not match MobileNetV2")
        _check_int8(name, *params[2:])
        if params[4] > params[5]:
            raise QuantModelError(f"{name}.params: clamp_min > clamp_max")
        shift = take(f"{name}.shift", np.int32, (cout,))
        if shift.min() < MIN_SHIFT or shift.max() > MAX_SHIFT:
            raise QuantModelError(f"{name}.shift: values must lie in [{MIN_SHIFT}, {MAX_SHIFT}]")
        multiplier = take(f"{name}.multiplier", np.int32, (cout,))
        if multiplier.min() < 0:
            raise QuantModelError(f"{name}.multiplier: values must be non-negative")
        weight = take(f"{name}.weight", np.int8, weight_shape(kind, cin, cout))
        bias = take(f"{name}.bias", np.int32, (cout,))
        _check_headroom(name, weight, bias, multiplier, shift)
        convs[name] = QuantConv(name, kind, stride, weight, bias, multiplier, shift, *params[2:])
    blocks = []
    for index, (cin, _t, cout, stride) in enumerate(block_specs(), start=1):
        block_convs = tuple(c for n, c in convs.items() if n.startswith(f"b{index}."))
        add = None
        if stride == 1 and cin == cout:
            a = [int(v) for v in take(f"b{index}.add", np.int32, (8,))]
            _check_int8(f"b{index}.add", a[0], a[1], a[2], a[6], a[7])
            if not MIN_SHIFT <= a[5] <= MAX_SHIFT or min(a[3], a[4]) < 0:
                raise QuantModelError(f"b{index}.add: bad multiplier or shift")
            add = QuantAdd(*a)
        blocks.append(QuantBlock(f"b{index}", block_convs, add))
    pool = [int(v) for v in take("pool.params", np.int32, (4,))]
    _check_int8("pool.params", pool[0], pool[1])
    if not MIN_SHIFT <= pool[3] <= MAX_SHIFT or pool[2] < 0:
        raise QuantModelError("pool.params: bad multiplier or shift")
    model = QuantMobileNetV2(
        lut,
        convs["stem"],
        tuple(blocks),
        convs["head"],
        QuantPool(*pool),
        take("fc.weight", np.int8, (LAST_CHANNELS, NUM_CLASSES)),
        take("fc.bias", np.int32, (NUM_CLASSES,)),
    )
    extra = sorted(set(tensors) - used)
    if extra:
        raise QuantModelError(f"model has unexpected tensors: {extra[:5]}")
    return model


def _all_convs(model: QuantMobileNetV2) -> list[QuantConv]:
    return [model.stem, *(c for b in model.blocks for c in b.convs), model.head]


def _check_headroom(
    name: str,
    weight: npt.NDArray[np.int8],
    bias: npt.NDArray[np.int32],
    multiplier: npt.NDArray[np.int32],
    shift: npt.NDArray[np.int32],
) -> None:
    """The int64 requantisation (acc*m + bias*m + rounding + zp<<shift) must not overflow."""
    taps = int(np.prod(weight.shape[:-1]))
    worst_acc = taps * 128 * 127
    worst = (worst_acc + int(np.abs(bias.astype(np.int64)).max())) * int(multiplier.max())
    worst += 129 << int(shift.max())
    if worst >= 1 << 62:
        raise QuantModelError(f"{name}: multiplier/bias/shift could overflow int64")


def _ints(*values: int) -> npt.NDArray[np.int32]:
    return np.asarray(values, dtype=np.int32)


def _check_int8(name: str, *values: int) -> None:
    if any(not -128 <= v <= 127 for v in values):
        raise QuantModelError(f"{name}: zero point or clamp bound outside int8 range")
