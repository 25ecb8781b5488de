"""Shape helpers for 3x3 convolutions with padding 1 (NHWC), shared by both tiers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

ScalarT = TypeVar("ScalarT", bound=np.generic)


def out_size(size: int, stride: int) -> int:
    """Output height/width of a 3x3 convolution with padding 1."""
    return (size - 1) // stride + 1


def pad_hw(x: npt.NDArray[ScalarT], value: Any) -> npt.NDArray[ScalarT]:
    """Pad H and W of an NHWC tensor by one pixel on each side with a constant."""
    n, h, w, c = x.shape
    padded = np.full((n, h + 2, w + 2, c), value, dtype=x.dtype)
    padded[:, 1:-1, 1:-1, :] = x
    return padded


def taps_3x3(
    padded: npt.NDArray[ScalarT], stride: int
) -> Iterator[tuple[int, int, npt.NDArray[ScalarT]]]:
    """Yield (ky, kx, view) for the nine shifted, strided views of a padded NHWC tensor."""
    h = out_size(padded.shape[1] - 2, stride)
    w = out_size(padded.shape[2] - 2, stride)
    for ky in range(3):
        for kx in range(3):
            view = padded[
                :,
                ky : ky + stride * (h - 1) + 1 : stride,
                kx : kx + stride * (w - 1) + 1 : stride,
                :,
            ]
            yield ky, kx, view


def im2col_3x3(padded: npt.NDArray[ScalarT], stride: int) -> npt.NDArray[ScalarT]:
    """Patches [N, H', W', 3*3*C] ordered (ky, kx, c), matching an HWIO weight reshape."""
    views = [view for _, _, view in taps_3x3(padded, stride)]
    return np.concatenate(views, axis=-1)


def windows_3x3(padded: npt.NDArray[ScalarT], stride: int) -> npt.NDArray[ScalarT]:
    """Read-only view [N, H', W', 3, 3, C] of every 3x3 window of a padded NHWC tensor."""
    n, hp, wp, c = padded.shape
    h, w = out_size(hp - 2, stride), out_size(wp - 2, stride)
    sn, sh, sw, sc = padded.strides
    view: npt.NDArray[ScalarT] = np.lib.stride_tricks.as_strided(
        padded,
        shape=(n, h, w, 3, 3, c),
        strides=(sn, sh * stride, sw * stride, sh, sw, sc),
        writeable=False,
    )
    return view
