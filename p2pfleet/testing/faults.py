"""Byzantine executors: deliberately wrong nodes for the demo and the tests.

A node runs one of these only when started with `--inject-fault`, which the
demo and the tests do on purpose; a real deployment never sets it.
"""

from __future__ import annotations

import numpy as np

from p2pfleet.inference.tensors import decode_tensor, encode_tensor
from p2pfleet.node.executor import ShardExecutor

FAULTS = ("wrong-output",)


class WrongOutputExecutor:
    """Computes the honest answer, then returns a plausible wrong one (shifted classes)."""

    def __init__(self, honest: ShardExecutor) -> None:
        self._honest = honest

    def supports(self, model_hash: bytes, runtime: str) -> bool:
        return self._honest.supports(model_hash, runtime)

    async def run(self, model_hash: bytes, input_bytes: bytes) -> bytes:
        output = decode_tensor(await self._honest.run(model_hash, input_bytes), max_bytes=1 << 26)
        return encode_tensor(np.ascontiguousarray(np.roll(output, 7, axis=-1)))


def with_fault(executor: ShardExecutor, fault: str | None) -> ShardExecutor:
    if fault is None:
        return executor
    if fault == "wrong-output":
        return WrongOutputExecutor(executor)
    raise ValueError(f"unknown fault {fault!r}; known faults: {', '.join(FAULTS)}")
