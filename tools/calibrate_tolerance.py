"""Calibrate the tolerant tier's comparators: honest noise vs cheaper-model substitution.

Usage: python tools/calibrate_tolerance.py

Honest variants recompute the same model on the same inputs another way (thread
counts, graph optimisation levels, single vs batch, another runtime); a
substitution runs a cheaper model instead (the int8 MobileNetV2 for the float
one, MiniLM with its last layers cut). A good threshold accepts every honest
variant and rejects every substitution with a wide margin on both sides. The
thresholds live in p2pfleet/inference/compare.py; the measured margins belong in
protocol/outputs.md.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np


def _classification() -> None:
    from p2pfleet.inference.compare import (
        LOGIT_RTOL,
        classification_equal,
        relative_logit_diffs,
    )
    from p2pfleet.inference.engine import OrtImageRunner
    from p2pfleet.inference.images import photo_variants, sample_batch
    from p2pfleet.inference.mobilenet_onnx import mobilenet_v2_onnx
    from p2pfleet.inference.mobilenet_v2 import float_forward, fold_state_dict
    from p2pfleet.inference.ort_runtime import pinned_settings
    from p2pfleet.inference.runtime import build_mobilenet_v2_int8, load_model, model_info
    from p2pfleet.inference.tensors import encode_tensor
    from p2pfleet.inference.torch_legacy import load_mobilenet_v2_state

    folded = fold_state_dict(load_mobilenet_v2_state())
    graph = mobilenet_v2_onnx(folded)
    images = np.concatenate([sample_batch(), np.stack([v for _, v in photo_variants()])])
    pinned = pinned_settings()
    info = model_info(build_mobilenet_v2_int8())

    def ort(**changes: Any) -> OrtImageRunner:
        return OrtImageRunner(info, graph, replace(pinned, **changes))

    reference = ort().run_array(images)
    int8 = load_model(build_mobilenet_v2_int8())
    variants: list[tuple[str, str, Any]] = [
        ("honest", "onnxruntime 2 threads", ort(intra_op_threads=2).run_array(images)),
        (
            "honest",
            "onnxruntime opt=basic",
            ort(graph_optimization_level="basic").run_array(images),
        ),
        (
            "honest",
            "onnxruntime opt=disable",
            ort(graph_optimization_level="disable").run_array(images),
        ),
        (
            "honest",
            "onnxruntime one image/run",
            np.concatenate([ort().run_array(images[i : i + 1]) for i in range(len(images))]),
        ),
        ("honest", "numpy float32 (OpenBLAS)", float_forward(folded, images).astype(np.float32)),
        (
            "honest",
            "numpy float64",
            float_forward(folded, images, dtype=np.float64).astype(np.float32),
        ),
        (
            "cheat",
            "int8 model, dequantised",
            (int8.run(images) * int8._logit_scale).astype(np.float32),
        ),
    ]
    print(f"\nMobileNetV2 float logits, {len(images)} inputs (16 samples + generated variants)")
    print(f"comparator: top-1 equal and |Δlogit| ≤ {LOGIT_RTOL:g} × row max |logit|")
    print(
        f"{'kind':<7} {'variant':<28} {'min rel Δ':>10} {'max rel Δ':>10} "
        f"{'top-1 agree':>12} {'rows accepted':>14}"
    )
    worst_honest, best_cheat = 0.0, float("inf")
    n = len(images)
    for kind, name, logits in variants:
        rel = relative_logit_diffs(reference, logits)
        agree = int((reference.argmax(1) == logits.argmax(1)).sum())
        rows_ok = sum(
            classification_equal(
                encode_tensor(reference[i : i + 1]), encode_tensor(logits[i : i + 1])
            )
            for i in range(n)
        )
        print(
            f"{kind:<7} {name:<28} {rel.min():>10.2e} {rel.max():>10.2e} "
            f"{agree:>6}/{n:<5} {rows_ok:>8}/{n:<5}"
        )
        if kind == "honest":
            worst_honest = max(worst_honest, float(rel.max()))
        else:
            best_cheat = min(best_cheat, float(rel.min()))
    print(
        f"margin: tolerance / worst honest = {LOGIT_RTOL / worst_honest:,.0f}×; "
        f"smallest substitution / tolerance = {best_cheat / LOGIT_RTOL:,.0f}×"
    )


def _embeddings() -> None:
    from p2pfleet.inference.compare import EMBEDDING_MIN_COSINE, cosine_rows, embeddings_equal
    from p2pfleet.inference.minilm import (
        MiniLMEmbedder,
        build_minilm,
        minilm_onnx_path,
        truncate_layers,
    )
    from p2pfleet.inference.modelfile import decode_model
    from p2pfleet.inference.ort_runtime import pinned_settings
    from p2pfleet.inference.tensors import encode_tensor
    from p2pfleet.inference.texts import sample_sentences

    sentences = list(sample_sentences())
    model = decode_model(build_minilm())
    pinned = pinned_settings()

    def run(**changes: Any) -> Any:
        return MiniLMEmbedder(model, replace(pinned, **changes)).embed(sentences)

    reference = run()
    base = MiniLMEmbedder(model, pinned)
    source = minilm_onnx_path().read_bytes()

    def cut(layers: int) -> Any:
        cut_model = decode_model(build_minilm(onnx_bytes=truncate_layers(source, layers)))
        return MiniLMEmbedder(cut_model, pinned).embed(sentences)

    variants: list[tuple[str, str, Any]] = [
        ("honest", "2 threads", run(intra_op_threads=2)),
        ("honest", "opt=basic", run(graph_optimization_level="basic")),
        ("honest", "opt=disable", run(graph_optimization_level="disable")),
        ("honest", "one sentence/run", np.concatenate([base.embed([s]) for s in sentences])),
        ("honest", "reversed batch order", base.embed(sentences[::-1])[::-1]),
        ("cheat", "first 5 of 6 layers", cut(5)),
        ("cheat", "first 3 of 6 layers", cut(3)),
        ("cheat", "first layer only", cut(1)),
    ]
    print(f"\nMiniLM-L6 embeddings, {len(sentences)} sample sentences")
    print(f"comparator: cosine ≥ {EMBEDDING_MIN_COSINE} for every row")
    print(
        f"{'kind':<7} {'variant':<24} {'1 − min cos':>12} {'1 − max cos':>12} {'rows accepted':>14}"
    )
    worst_honest, best_cheat = 1.0, -1.0
    n = len(sentences)
    for kind, name, emb in variants:
        cos = cosine_rows(reference, emb)
        rows_ok = sum(
            embeddings_equal(encode_tensor(reference[i : i + 1]), encode_tensor(emb[i : i + 1]))
            for i in range(n)
        )
        print(
            f"{kind:<7} {name:<24} {1 - cos.min():>12.2e} {1 - cos.max():>12.2e} "
            f"{rows_ok:>8}/{n:<5}"
        )
        if kind == "honest":
            worst_honest = min(worst_honest, float(cos.min()))
        else:
            best_cheat = max(best_cheat, float(cos.max()))
    slack = 1 - EMBEDDING_MIN_COSINE
    print(
        f"margin: 1 − threshold = {slack:g}; worst honest 1 − cos = {1 - worst_honest:.2e}; "
        f"best substitution cosine {best_cheat:.3f} vs threshold {EMBEDDING_MIN_COSINE}"
    )


def main() -> None:
    import onnxruntime

    print(f"onnxruntime {onnxruntime.__version__}, numpy {np.__version__}")
    _classification()
    _embeddings()


if __name__ == "__main__":
    main()
