"""torchvision MobileNetV2 (width 1.0): batch-norm folding and a float numpy forward.

Layout is NHWC throughout. Folded weights: stem HWIO [3,3,3,32], depthwise [3,3,C],
pointwise [Cin,Cout], classifier [1280,1000].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from p2pfleet.inference.geometry import im2col_3x3, pad_hw, taps_3x3

# (expansion t, output channels c, repeats n, first stride s), as in the paper and torchvision.
INVERTED_RESIDUAL_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32
LAST_CHANNELS = 1280
NUM_CLASSES = 1000
BN_EPS = 1e-5
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

ConvKind = Literal["stem", "dw", "pw"]
FloatArray = npt.NDArray[np.floating[Any]]
Observer = Callable[[str, FloatArray], None]


@dataclass(frozen=True)
class FoldedConv:
    """A convolution with batch norm folded in; relu6 says whether ReLU6 follows."""

    name: str
    kind: ConvKind
    weight: npt.NDArray[np.float64]
    bias: npt.NDArray[np.float64]
    stride: int
    relu6: bool


@dataclass(frozen=True)
class Block:
    name: str
    convs: tuple[FoldedConv, ...]
    residual: bool


@dataclass(frozen=True)
class FoldedMobileNetV2:
    stem: FoldedConv
    blocks: tuple[Block, ...]
    head: FoldedConv
    fc_weight: npt.NDArray[np.float64]
    fc_bias: npt.NDArray[np.float64]


def block_specs() -> list[tuple[int, int, int, int]]:
    """(input channels, expansion, output channels, stride) for features.1 .. features.17."""
    specs = []
    channels = STEM_CHANNELS
    for t, c, n, s in INVERTED_RESIDUAL_SETTING:
        for i in range(n):
            specs.append((channels, t, c, s if i == 0 else 1))
            channels = c
    return specs


def _fold(
    state: dict[str, npt.NDArray[Any]],
    conv: str,
    bn: str,
    name: str,
    kind: ConvKind,
    stride: int,
    relu6: bool,
) -> FoldedConv:
    w = state[f"{conv}.weight"].astype(np.float64)  # OIHW
    gamma = state[f"{bn}.weight"].astype(np.float64)
    beta = state[f"{bn}.bias"].astype(np.float64)
    mean = state[f"{bn}.running_mean"].astype(np.float64)
    var = state[f"{bn}.running_var"].astype(np.float64)
    scale = gamma / np.sqrt(var + BN_EPS)
    bias = beta - mean * scale
    w = w * scale[:, None, None, None]
    if kind == "stem":
        weight = w.transpose(2, 3, 1, 0)  # HWIO
    elif kind == "dw":
        weight = w[:, 0].transpose(1, 2, 0)  # [3,3,C]
    else:
        weight = w[:, :, 0, 0].T  # [Cin,Cout]
    return FoldedConv(name, kind, np.ascontiguousarray(weight), bias, stride, relu6)


def fold_state_dict(state: dict[str, npt.NDArray[Any]]) -> FoldedMobileNetV2:
    """Fold batch norm into the convolutions of a torchvision MobileNetV2 state dict."""
    try:
        stem = _fold(state, "features.0.0", "features.0.1", "stem", "stem", 2, True)
        blocks = []
        for index, (cin, t, cout, stride) in enumerate(block_specs(), start=1):
            p = f"features.{index}.conv"
            convs = []
            j = 0
            if t != 1:
                convs.append(
                    _fold(state, f"{p}.0.0", f"{p}.0.1", f"b{index}.expand", "pw", 1, True)
                )
                j = 1
            convs.append(
                _fold(state, f"{p}.{j}.0", f"{p}.{j}.1", f"b{index}.dw", "dw", stride, True)
            )
            convs.append(
                _fold(state, f"{p}.{j + 1}", f"{p}.{j + 2}", f"b{index}.project", "pw", 1, False)
            )
            blocks.append(Block(f"b{index}", tuple(convs), stride == 1 and cin == cout))
        last = len(blocks) + 1
        head = _fold(state, f"features.{last}.0", f"features.{last}.1", "head", "pw", 1, True)
        fc_weight = state["classifier.1.weight"].astype(np.float64).T.copy()
        fc_bias = state["classifier.1.bias"].astype(np.float64)
    except KeyError as exc:
        raise ValueError(f"state dict is not a torchvision MobileNetV2: missing {exc}") from exc
    if fc_weight.shape != (LAST_CHANNELS, NUM_CLASSES):
        raise ValueError(f"classifier weight has shape {fc_weight.shape}, expected (1280, 1000)")
    return FoldedMobileNetV2(stem, tuple(blocks), head, fc_weight, fc_bias)


def normalise_pixels(images: npt.NDArray[np.uint8], dtype: type[np.floating[Any]]) -> FloatArray:
    """uint8 RGB [N,H,W,3] -> (p/255 - mean) / std, in the given float dtype."""
    x = images.astype(dtype) / dtype(255.0)
    mean = np.asarray(IMAGENET_MEAN, dtype=dtype)
    std = np.asarray(IMAGENET_STD, dtype=dtype)
    result: FloatArray = (x - mean) / std
    return result


def _conv(layer: FoldedConv, x: FloatArray) -> FloatArray:
    w = layer.weight.astype(x.dtype)
    n, h, wd, c = x.shape
    if layer.kind == "pw":
        y = (x.reshape(-1, c) @ w).reshape(n, h, wd, -1)
    elif layer.kind == "stem":
        cols = im2col_3x3(pad_hw(x, 0), layer.stride)
        y = cols @ w.reshape(-1, w.shape[-1])
    else:
        y = np.zeros_like(x[:, :: layer.stride, :: layer.stride, :])
        for ky, kx, view in taps_3x3(pad_hw(x, 0), layer.stride):
            y += view * w[ky, kx]
    y = y + layer.bias.astype(x.dtype)
    return np.clip(y, 0.0, 6.0) if layer.relu6 else y


def float_forward(
    model: FoldedMobileNetV2,
    images: npt.NDArray[np.uint8],
    *,
    dtype: type[np.floating[Any]] = np.float32,
    observer: Observer | None = None,
) -> FloatArray:
    """Float logits [N,1000] for uint8 RGB images [N,224,224,3].

    observer, if given, sees every quantisation point: each conv output, each residual
    sum ("<block>.add") and the pooled features ("pool").
    """

    def seen(name: str, value: FloatArray) -> FloatArray:
        if observer is not None:
            observer(name, value)
        return value

    x = seen("input", normalise_pixels(images, dtype))
    x = seen(model.stem.name, _conv(model.stem, x))
    for block in model.blocks:
        y = x
        for layer in block.convs:
            y = seen(layer.name, _conv(layer, y))
        x = seen(f"{block.name}.add", x + y) if block.residual else y
    x = seen(model.head.name, _conv(model.head, x))
    pooled = seen("pool", x.mean(axis=(1, 2)))
    logits: FloatArray = pooled @ model.fc_weight.astype(dtype) + model.fc_bias.astype(dtype)
    return logits


def softmax(logits: FloatArray) -> npt.NDArray[np.float64]:
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    result: npt.NDArray[np.float64] = e / e.sum(axis=-1, keepdims=True)
    return result
