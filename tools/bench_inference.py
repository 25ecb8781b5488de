"""Benchmark inference: every built-in model and runtime on 1 and 2 threads, side by side.

Usage: python tools/bench_inference.py [--repeats 3] [--rounds 2]

Rounds run every model once each, interleaved; the best round is kept.
Each measurement runs in a fresh subprocess with OMP_NUM_THREADS/OPENBLAS_NUM_THREADS
set (the BLAS reads them at import) and, for onnxruntime, intra_op_threads set to
the same count. Prints ms per input for the int8 exact tier (numpy kernels), the
same model on the int64 reference kernels (and checks both give identical bytes on
1 and 2 threads), the float reference (numpy), float MobileNetV2 on onnxruntime and MiniLM-L6 on
onnxruntime; the int8-exact / float latency ratios; and top-1 agreement of int8
vs float on scikit-image's photos plus generated variants (mirror, crop, dark, bright).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

MODES = ("int8", "int8-ref", "float-numpy", "float-ort", "minilm")
LABELS = {
    "int8": "MobileNetV2 int8 exact (numpy kernels)",
    "int8-ref": "  same, int64 reference kernels",
    "float-numpy": "MobileNetV2 float32 (numpy)",
    "float-ort": "MobileNetV2 float32 (onnxruntime)",
    "minilm": "MiniLM-L6 embeddings (onnxruntime)",
}
THREADS = (1, 2)


def _runner(mode: str, model_dir: Path, threads: int) -> tuple[Callable[[Any], Any], Any]:
    import numpy as np

    from p2pfleet.inference.images import photo_variants, sample_batch
    from p2pfleet.inference.ort_runtime import pinned_settings

    settings = replace(pinned_settings(), intra_op_threads=threads)
    images = np.concatenate([sample_batch(), np.stack([v for _, v in photo_variants()])])
    if mode in ("int8", "int8-ref"):
        from p2pfleet.inference.runtime import load_model

        reference = mode == "int8-ref"
        model = load_model((model_dir / "int8.model").read_bytes(), reference_kernels=reference)
        if not reference and not model.fast_kernels:
            print("note: the exact model fell back to the int64 kernels", file=sys.stderr)
        return model.run, images
    if mode == "float-numpy":
        from p2pfleet.inference.mobilenet_v2 import float_forward, fold_state_dict
        from p2pfleet.inference.torch_legacy import load_mobilenet_v2_state

        folded = fold_state_dict(load_mobilenet_v2_state())
        return (lambda x: float_forward(folded, x)), images
    if mode == "float-ort":
        from p2pfleet.inference.engine import OrtImageRunner
        from p2pfleet.inference.mobilenet_onnx import mobilenet_v2_onnx
        from p2pfleet.inference.mobilenet_v2 import fold_state_dict
        from p2pfleet.inference.runtime import model_info
        from p2pfleet.inference.torch_legacy import load_mobilenet_v2_state

        graph = mobilenet_v2_onnx(fold_state_dict(load_mobilenet_v2_state()))
        info = model_info((model_dir / "int8.model").read_bytes())
        return OrtImageRunner(info, graph, settings).run_array, images
    from p2pfleet.inference.minilm import MiniLMEmbedder, build_minilm
    from p2pfleet.inference.modelfile import decode_model
    from p2pfleet.inference.texts import sample_sentences

    embedder = MiniLMEmbedder(decode_model(build_minilm()), settings)
    return (lambda texts: embedder.embed(list(texts))), list(sample_sentences())


def _child(mode: str, model_dir: Path, repeats: int, threads: int) -> None:
    import numpy as np

    run, inputs = _runner(mode, model_dir, threads)
    timed = inputs[:16]
    run(timed)  # warm-up
    best = cpu = float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run(timed)
        best = min(best, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    outputs = np.asarray(run(inputs))
    top1 = outputs.argmax(axis=1).tolist() if mode != "minilm" else []
    digest = hashlib.sha256(outputs.tobytes()).hexdigest()
    per_input = 1000 / len(timed)
    measured = {"ms_per_input": best * per_input, "cpu_ms_per_input": cpu * per_input}
    print(json.dumps({**measured, "top1": top1, "digest": digest}))


def _measure(mode: str, threads: int, model_dir: Path, repeats: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS", "OMP_"))}
    env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    command = [sys.executable, __file__, "--child", mode, "--model-dir", str(model_dir)]
    command += ["--repeats", str(repeats), "--threads", str(threads)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    measured: dict[str, Any] = json.loads(result.stdout)
    return measured


def _table(results: dict[tuple[str, int], dict[str, Any]], field: str) -> None:
    def ratio(a: str, b: str, t: int) -> str:
        return f"{results[(a, t)][field] / results[(b, t)][field]:>12.2f}"

    print(f"{'model / runtime':<40} " + " ".join(f"{f'{t} thread(s)':>12}" for t in THREADS))
    for mode in MODES:
        cells = " ".join(f"{results[(mode, t)][field]:>12.1f}" for t in THREADS)
        print(f"{LABELS[mode]:<40} {cells}")
    speedup = " ".join(ratio("int8-ref", "int8", t) for t in THREADS)
    print(f"{'int8 reference / numpy kernels (speed-up)':<40} {speedup}")
    for float_mode in ("float-numpy", "float-ort"):
        ratios = " ".join(ratio("int8", float_mode, t) for t in THREADS)
        print(f"{'int8-exact / ' + LABELS[float_mode][12:]:<40} {ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement")
    parser.add_argument(
        "--rounds", type=int, default=2, help="interleaved rounds over all models (best kept)"
    )
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.model_dir, args.repeats, args.threads)
        return

    import onnxruntime

    from p2pfleet.inference.runtime import build_mobilenet_v2_int8

    start = time.perf_counter()
    model_bytes = build_mobilenet_v2_int8()
    build_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp)
        (model_dir / "int8.model").write_bytes(model_bytes)
        results: dict[tuple[str, int], dict[str, Any]] = {}
        for _ in range(args.rounds):  # interleaved, so a busy moment hits every model alike
            for key in ((m, t) for m in MODES for t in THREADS):
                measured = _measure(*key, model_dir, args.repeats)
                if key not in results:
                    results[key] = measured
                for field in ("ms_per_input", "cpu_ms_per_input"):
                    results[key][field] = min(results[key][field], measured[field])

    print(f"int8 model: {len(model_bytes)} bytes, sha256 {hashlib.sha256(model_bytes).hexdigest()}")
    print(f"int8 build: {build_seconds:.1f} s; onnxruntime {onnxruntime.__version__}")
    print(
        f"ms per input (best of {args.rounds} rounds x {args.repeats} runs; "
        "16 images or 16 sentences per run)"
    )
    _table(results, "ms_per_input")
    print(
        "\nCPU ms per input (process time: less disturbed by other load on a shared machine;"
        " on 2 threads it includes BLAS threads' spinning)"
    )
    _table(results, "cpu_ms_per_input")
    float_top1 = results[("float-numpy", 1)]["top1"]
    int8_top1 = results[("int8", 1)]["top1"]
    if any(
        results[(m, t)]["digest"] != results[("int8", 1)]["digest"]
        for m in ("int8", "int8-ref")
        for t in THREADS
    ):
        raise SystemExit(
            "int8 outputs differ between kernels or thread counts: a bug, please report"
        )
    ort_top1 = results[("float-ort", 1)]["top1"]
    same = sum(a == b for a, b in zip(float_top1, int8_top1, strict=True))
    runtimes = sum(a == b for a, b in zip(float_top1, ort_top1, strict=True))
    n = len(float_top1)
    print(
        f"top-1 agreement int8 vs float: {same}/{n} ({same / n:.0%}) on 16 sample inputs "
        f"+ {n - 16} generated variants; float numpy vs onnxruntime: {runtimes}/{n}"
    )


if __name__ == "__main__":
    main()
