"""Benchmark MobileNetV2 inference: float numpy reference vs the int8 exact tier.

Usage: python tools/bench_inference.py [--repeats 3]

Each measurement runs in a fresh subprocess with OMP_NUM_THREADS/OPENBLAS_NUM_THREADS
set (the BLAS reads them at import). Prints ms per input at 1 and 2 threads, the
int8/float latency ratio, top-1 agreement and the model file size and hash.
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
from pathlib import Path

MODES = ("float", "int8")
THREADS = (1, 2)


def _child(mode: str, model_path: Path, repeats: int) -> None:
    import numpy as np

    from p2pfleet.inference.images import sample_batch
    from p2pfleet.inference.mobilenet_v2 import float_forward, fold_state_dict
    from p2pfleet.inference.runtime import load_model
    from p2pfleet.inference.torch_legacy import load_mobilenet_v2_state

    batch = sample_batch()
    if mode == "float":
        folded = fold_state_dict(load_mobilenet_v2_state())

        def run() -> object:
            return float_forward(folded, batch)
    else:
        model = load_model(model_path.read_bytes())

        def run() -> object:
            return model.run(batch)

    run()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        outputs = run()
        best = min(best, time.perf_counter() - start)
    top1 = np.asarray(outputs).argmax(axis=1).tolist()
    print(json.dumps({"ms_per_input": best * 1000 / len(batch), "top1": top1}))


def _measure(mode: str, threads: int, model_path: Path, repeats: int) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS", "OMP_"))}
    env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    command = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--model",
        str(model_path),
        "--repeats",
        str(repeats),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    measured: dict[str, object] = json.loads(result.stdout)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.model, args.repeats)
        return

    from p2pfleet.inference.runtime import build_mobilenet_v2_int8

    start = time.perf_counter()
    model_bytes = build_mobilenet_v2_int8()
    build_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "mobilenet_v2-int8.model"
        model_path.write_bytes(model_bytes)
        results = {(m, t): _measure(m, t, model_path, args.repeats) for m in MODES for t in THREADS}

    print(f"model: {len(model_bytes)} bytes, sha256 {hashlib.sha256(model_bytes).hexdigest()}")
    print(f"build: {build_seconds:.1f} s (load checkpoint, fold, calibrate, quantise)")
    print(f"{'threads':>8} {'float ms/input':>15} {'int8 ms/input':>14} {'int8/float':>11}")
    for t in THREADS:
        f_ms = float(str(results[("float", t)]["ms_per_input"]))
        q_ms = float(str(results[("int8", t)]["ms_per_input"]))
        print(f"{t:>8} {f_ms:>15.1f} {q_ms:>14.1f} {q_ms / f_ms:>11.2f}")
    float_top1 = results[("float", 1)]["top1"]
    int8_top1 = results[("int8", 1)]["top1"]
    assert isinstance(float_top1, list) and isinstance(int8_top1, list)
    same = sum(a == b for a, b in zip(float_top1, int8_top1, strict=True))
    print(
        f"top-1 agreement int8 vs float: {same}/{len(float_top1)} "
        f"({same / len(float_top1):.0%}) on the {len(float_top1)} sample photos"
    )


if __name__ == "__main__":
    main()
