"""Where the exact tier's time goes: CPU ms per image by layer kind, fast vs reference.

Usage: python tools/profile_int8.py [--images 8] [--rounds 3]

Builds the MobileNetV2-int8 model, runs the float-carrier kernels and the int64
reference kernels interleaved on the bundled sample photos, and prints the best
round's process CPU time per image for each layer kind (stem, pw, dw, add) and in
total. Process time, not wall time, so a busy shared machine distorts it less. Set
OMP_NUM_THREADS/OPENBLAS_NUM_THREADS=1 for a single-core picture.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from p2pfleet.inference import fast_kernels, int8_kernels
from p2pfleet.inference.images import sample_batch
from p2pfleet.inference.modelfile import decode_model
from p2pfleet.inference.qmodel import from_tensors
from p2pfleet.inference.runtime import POOL_SPATIAL, build_mobilenet_v2_int8

Totals = defaultdict[str, float]


def _timed(function: Callable[..., Any], key: Callable[[Any], str], totals: Totals) -> Any:
    def wrapper(layer: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        result = function(layer, *args, **kwargs)
        totals[key(layer)] += time.process_time() - start
        return result

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8, help="images per forward pass")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best is kept")
    args = parser.parse_args()
    quant = from_tensors(decode_model(build_mobilenet_v2_int8()).tensors)
    images = sample_batch()[: args.images]
    nets = {
        "fast": (fast_kernels, fast_kernels.FastMobileNetV2(quant, POOL_SPATIAL)),
        "reference": (int8_kernels, int8_kernels.Int8MobileNetV2(quant)),
    }
    kinds = {"fast": lambda layer: layer.kind, "reference": lambda layer: layer.conv.kind}
    best: dict[str, Totals] = {}
    for _ in range(args.rounds):
        for name, (module, net) in nets.items():
            totals: Totals = defaultdict(float)
            conv, add = module.conv_forward, module.residual_add
            module.conv_forward = _timed(conv, kinds[name], totals)  # type: ignore[attr-defined]
            module.residual_add = _timed(add, lambda _: "add", totals)  # type: ignore[attr-defined]
            try:
                start = time.process_time()
                net.forward(images)  # type: ignore[attr-defined]
                totals["total"] = time.process_time() - start
            finally:
                module.conv_forward, module.residual_add = conv, add  # type: ignore[attr-defined]
            if name not in best or totals["total"] < best[name]["total"]:
                best[name] = totals
    rows = ("stem", "pw", "dw", "add", "total")
    print(f"CPU ms per image, best of {args.rounds} rounds, {len(images)} images per pass")
    print(f"{'layer kind':<12}" + "".join(f"{name:>12}" for name in nets) + f"{'ratio':>8}")
    for row in rows:
        fast, reference = (best[name][row] * 1000 / len(images) for name in nets)
        print(f"{row:<12}{fast:>12.2f}{reference:>12.2f}{reference / fast:>8.2f}")


if __name__ == "__main__":
    main()
