"""Comparators: do two replicas' canonical output bytes count as the same answer?

One per task kind (protocol/outputs.md §5). Byte equality is always a fast path;
for the tolerant tier it is never the acceptance rule. Malformed or mismatched
outputs compare as different (a wrong answer), never raise.

Thresholds were calibrated by tools/calibrate_tolerance.py on honest runs
(thread counts, optimisation levels, single vs batch, numpy vs onnxruntime)
against cheaper-model substitutions; the margins are in protocol/outputs.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from p2pfleet.inference.tensors import TensorFormatError, decode_tensor

Comparator = Callable[[bytes, bytes], bool]
MAX_OUTPUT_BYTES = 64 << 20

#: Logits: |a - b| per element at most this fraction of the row's largest |logit|.
LOGIT_RTOL = 1e-3
#: Embeddings: cosine similarity of every row at least this.
EMBEDDING_MIN_COSINE = 0.999


def exact_equal(a: bytes, b: bytes) -> bool:
    """Exact tier: the bytes (hence their SHA-256) are identical."""
    return a == b


def _pair(a: bytes, b: bytes) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    try:
        x = decode_tensor(a, max_bytes=MAX_OUTPUT_BYTES)
        y = decode_tensor(b, max_bytes=MAX_OUTPUT_BYTES)
    except TensorFormatError:
        return None
    if x.shape != y.shape or x.dtype != y.dtype or x.ndim != 2 or x.dtype.kind not in "fi":
        return None
    fx, fy = x.astype(np.float64), y.astype(np.float64)
    if not (np.isfinite(fx).all() and np.isfinite(fy).all()):
        return None
    return fx, fy


def _row_tolerance(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> Any:
    scale = np.maximum(np.abs(x).max(axis=1), np.abs(y).max(axis=1))
    return LOGIT_RTOL * np.maximum(scale, 1e-12)


def classification_equal(a: bytes, b: bytes) -> bool:
    """Same top-1 class per row (up to a tie within tolerance), logits within tolerance."""
    if a == b:
        return True
    pair = _pair(a, b)
    if pair is None:
        return False
    x, y = pair
    if x.shape[1] == 0:
        return x.shape == y.shape
    tol = _row_tolerance(x, y)
    if (np.abs(x - y).max(axis=1) > tol).any():
        return False
    rows = np.arange(len(x))
    # b's winner must also be (within tolerance) a winner in a, and vice versa.
    y_top_in_x = x[rows, y.argmax(axis=1)] >= x.max(axis=1) - tol
    x_top_in_y = y[rows, x.argmax(axis=1)] >= y.max(axis=1) - tol
    return bool(y_top_in_x.all() and x_top_in_y.all())


def embeddings_equal(a: bytes, b: bytes) -> bool:
    """Every row's cosine similarity is at least EMBEDDING_MIN_COSINE."""
    if a == b:
        return True
    pair = _pair(a, b)
    if pair is None:
        return False
    x, y = pair
    norms = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    if (norms == 0).any():
        return False
    cosine = (x * y).sum(axis=1) / norms
    return bool((cosine >= EMBEDDING_MIN_COSINE).all())


COMPARATORS: dict[str, Comparator] = {
    "exact": exact_equal,
    "classification": classification_equal,
    "embeddings": embeddings_equal,
}


def comparator_for(kind: str) -> Comparator:
    """The agreement function for a comparator kind (a model's `ModelInfo.comparator`)."""
    try:
        return COMPARATORS[kind]
    except KeyError:
        raise ValueError(
            f"no comparator for kind {kind!r}; known kinds: {', '.join(COMPARATORS)}"
        ) from None


def cosine_rows(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Row-wise cosine similarity (for calibration and reports)."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    result: npt.NDArray[np.float64] = (x * y).sum(axis=1) / np.maximum(
        np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1), 1e-300
    )
    return result


def relative_logit_diffs(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Per row: max|a-b| / max(|a|,|b|) (what LOGIT_RTOL bounds), for calibration."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    result: npt.NDArray[np.float64] = np.abs(x - y).max(axis=1) / (
        _row_tolerance(x, y) / LOGIT_RTOL
    )
    return result
