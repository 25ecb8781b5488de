"""Load-time proofs that the fast exact path's float arithmetic is exact integer arithmetic.

The fast kernels (fast_kernels.py) carry int8 activations and integer accumulators in
float32/float64. That is exact, whatever the BLAS blocking, thread count or FMA use,
only while every intermediate is an integer (or an integer times a power of two) that
the float type represents exactly. These functions check that per layer, in Python
integers (no overflow), from the model's own numbers. A model that fails any check runs
on the int64 reference kernels instead; both paths give identical bytes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from p2pfleet.inference.int8_kernels import FLOAT32_EXACT_LIMIT

F64_EXACT = 1 << 53  # float64: <= 2^53

ValueRange = tuple[int, int]  # inclusive integer range of a tensor's values


class NotExact(ValueError):
    """A layer's numbers could make the float carrier round; use the int64 path."""


def max_abs(values: ValueRange) -> int:
    return max(abs(values[0]), abs(values[1]))


def gemm_carrier(
    weight: npt.NDArray[np.integer[Any]], inputs: ValueRange, what: str
) -> type[np.floating[Any]]:
    """Narrowest float type in which x @ weight is exact for inputs x within `inputs`.

    Every partial sum of column n, in any order, is at most max|x| * sum_k |w_kn|, so
    float32 is exact below 2^24 and float64 below 2^53.
    """
    column_sums = np.abs(weight.astype(np.int64)).reshape(-1, weight.shape[-1]).sum(axis=0)
    worst = max_abs(inputs) * int(column_sums.max(initial=0))
    if worst < FLOAT32_EXACT_LIMIT:
        return np.float32
    if worst < F64_EXACT:
        return np.float64
    raise NotExact(f"{what}: GEMM partial sums reach {worst}, beyond float64's exact range")


def accumulator_bounds(weight: npt.NDArray[np.integer[Any]], inputs: ValueRange) -> list[int]:
    """Per output channel, the largest |sum_k x_k w_kn| over inputs x within `inputs`."""
    w = weight.astype(np.int64).reshape(-1, weight.shape[-1])
    positive = np.clip(w, 0, None).sum(axis=0).tolist()
    negative = np.clip(w, None, 0).sum(axis=0).tolist()
    lo, hi = inputs
    return [
        max(abs(lo * p + hi * n), abs(hi * p + lo * n))
        for p, n in zip(positive, negative, strict=True)
    ]


def check_requantisation(
    product_bounds: list[int],
    offsets: list[int],
    shifts: list[int],
    window: ValueRange,
    what: str,
) -> None:
    """Prove floor(clip(acc*m*2^-s + offset*2^-s)) in float64 equals the integer result.

    Per channel: product_bounds >= |acc*m| (acc*m is exact: acc < 2^24, m < 2^31 are
    exact and so is each float product below 2^53), offset = the integer added before
    the shift, window = the clip range of the shifted result. Scaling by 2^-s is exact,
    so it suffices to reason on integers N = acc*m + offset. Either
      (a) |acc*m| + |offset| < 2^53: every step is exact; or
      (b) |offset| + (max|window| + 1) * 2^s <= 2^53: whenever the product or the sum
          rounds, |N| >= 2^53 - |offset| puts the exact result outside the window, and
          rounding is monotonic, so the computed value lands on the same side of the
          window and is clipped to the same bound.
    Raises NotExact naming the first channel for which neither holds.
    """
    outside = max_abs(window) + 1
    for channel, (bound, offset, shift) in enumerate(
        zip(product_bounds, offsets, shifts, strict=True)
    ):
        if abs(offset) >= F64_EXACT:
            raise NotExact(f"{what}: channel {channel} offset {offset} is not exact in float64")
        if bound + abs(offset) < F64_EXACT:
            continue
        if abs(offset) + (outside << shift) <= F64_EXACT:
            continue
        raise NotExact(
            f"{what}: channel {channel} products reach {bound} with shift {shift}; "
            "float64 could round inside the clip window"
        )


def fused_gemm_is_exact(
    weight: npt.NDArray[np.integer[Any]],
    inputs: ValueRange,
    multipliers: list[int],
    offsets: list[int],
) -> bool:
    """Whether x @ (w * m*2^-s) + offset*2^-s can run as one float64 GEMM, exactly.

    Column n holds integers times 2^-s_n; every partial sum, in any order, is at most
    max|x| * sum_k |w_kn| * m_n + |offset_n| such units, so below 2^53 nothing rounds.
    """
    w = np.abs(weight.astype(np.int64)).reshape(-1, weight.shape[-1])
    scale = max_abs(inputs)
    return all(
        scale * int(column) * m + abs(offset) < F64_EXACT
        for column, m, offset in zip(w.sum(axis=0), multipliers, offsets, strict=True)
    )
