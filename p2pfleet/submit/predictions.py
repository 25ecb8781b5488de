"""Per-input predictions from verified outputs, for `predictions.json` and the demo.

`classify-image`: the top classes with display probabilities (softmax of the
logits; the int8 model's accumulators are dequantised first). `embed-text`:
the vector's size and each text's nearest neighbour among the job's texts by
cosine similarity. Deterministic: they depend only on the accepted outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from p2pfleet.inference.compare import MAX_OUTPUT_BYTES
from p2pfleet.inference.engine import ExactRunner, Runner
from p2pfleet.inference.mobilenet_v2 import softmax
from p2pfleet.inference.runtime import top_k_labels
from p2pfleet.inference.tensors import decode_tensor
from p2pfleet.submit.client import JobResult


def named_outputs(result: JobResult) -> list[tuple[str, int, npt.NDArray[Any]]]:
    """(input name, real-shard position, output row) for every verified input, in job order."""
    rows = []
    for position, shard in enumerate(result.plan.real_shards):
        output = result.outcome.outputs.get(shard.index)
        if output is None:
            continue
        tensor = decode_tensor(output, max_bytes=MAX_OUTPUT_BYTES)
        rows += [(name, position, row) for name, row in zip(shard.names, tensor, strict=True)]
    return rows


def predictions(result: JobResult, top: int = 3) -> list[dict[str, Any]]:
    rows = named_outputs(result)
    if result.plan.manifest.manifest.task == "embed-text":
        return embedding_rows(rows)
    return classification_rows(result.model, rows, top)


def classification_rows(
    model: Runner, rows: list[tuple[str, int, npt.NDArray[Any]]], top: int
) -> list[dict[str, Any]]:
    if not rows:
        return []
    logits = np.stack([row for _, _, row in rows])
    if isinstance(model, ExactRunner):
        ranked = model.model.top_k(logits, top)
    else:
        ranked = top_k_labels(softmax(logits), top)
    return [
        {"input": name, "shard": position, "top": [{"label": lb, "p": round(p, 4)} for lb, p in r]}
        for (name, position, _), r in zip(rows, ranked, strict=True)
    ]


def embedding_rows(rows: list[tuple[str, int, npt.NDArray[Any]]]) -> list[dict[str, Any]]:
    if not rows:
        return []
    vectors = np.stack([row for _, _, row in rows]).astype(np.float64)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    out = []
    for i, (name, position, _) in enumerate(rows):
        row: dict[str, Any] = {"input": name, "shard": position, "dims": int(vectors.shape[1])}
        if len(rows) > 1:
            j = int(np.argmax(similarity[i]))
            row["nearest"] = {"input": rows[j][0], "cosine": round(float(similarity[i, j]), 4)}
        out.append(row)
    return out
