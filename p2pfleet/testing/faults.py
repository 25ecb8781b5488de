"""Byzantine and unreliable executors: deliberately bad nodes for the demo and the tests.

A node runs one of these only when started with `--inject-fault`, which the
demo and the tests do on purpose; a real deployment never sets it.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np
import trio

from p2pfleet.inference.compare import MAX_OUTPUT_BYTES
from p2pfleet.inference.tensors import decode_tensor, encode_tensor
from p2pfleet.node.executor import ShardExecutor

FAULTS = ("wrong-output", "flaky", "perturb-output", "float-noise")
PERTURB_SCALE = 0.2  # "perturb-output": far outside both tolerant comparators
FLOAT_NOISE_SCALE = 1e-6  # "float-noise": what another CPU family's float kernels differ by


class WrongOutputExecutor:
    """Computes the honest answer, then returns a plausible wrong one (shifted classes).

    Every instance shifts by the same amount, so a set of them colludes: they
    commit the same wrong hash for the same shard.
    """

    def __init__(self, honest: ShardExecutor) -> None:
        self._honest = honest

    def supports(self, model_hash: bytes, runtime: str) -> bool:
        return self._honest.supports(model_hash, runtime)

    async def run(self, model_hash: bytes, input_bytes: bytes) -> bytes:
        output = decode_tensor(
            await self._honest.run(model_hash, input_bytes), max_bytes=MAX_OUTPUT_BYTES
        )
        return encode_tensor(np.ascontiguousarray(np.roll(output, 7, axis=-1)))


class PerturbedOutputExecutor:
    """Adds noise to every float output element: `scale` x the row's largest |value|.

    With a large scale it is a tolerant-tier liar (a cheaper approximation,
    e.g. embeddings off by far more than the cosine threshold); its noise is
    seeded by the input, so every instance colludes on the same wrong bytes.
    With `seed_by_input=False` and a tiny scale it is an honest replica on
    other hardware: its hash differs from everyone's, its values do not.
    """

    def __init__(
        self, honest: ShardExecutor, *, scale: float = PERTURB_SCALE, seed_by_input: bool = True
    ) -> None:
        self._honest = honest
        self._scale = scale
        self._seed_by_input = seed_by_input
        self._rng = np.random.default_rng()

    def supports(self, model_hash: bytes, runtime: str) -> bool:
        return self._honest.supports(model_hash, runtime)

    async def run(self, model_hash: bytes, input_bytes: bytes) -> bytes:
        output = decode_tensor(
            await self._honest.run(model_hash, input_bytes), max_bytes=MAX_OUTPUT_BYTES
        )
        rng = (
            np.random.default_rng(int.from_bytes(hashlib.sha256(input_bytes).digest()[:8], "big"))
            if self._seed_by_input
            else self._rng
        )
        values = output.astype(np.float64)
        scale = self._scale * np.abs(values).max(axis=-1, keepdims=True)
        noisy = values + rng.standard_normal(values.shape) * scale
        return encode_tensor(np.ascontiguousarray(noisy.astype(output.dtype)))


class FlakyExecutor:
    """Fails a share of its shards (the stream is reset) and stalls on some others."""

    def __init__(
        self,
        honest: ShardExecutor,
        *,
        fail_rate: float = 0.4,
        stall_rate: float = 0.2,
        stall_s: float = 3600.0,
        seed: int | None = None,
    ) -> None:
        self._honest = honest
        self._fail_rate = fail_rate
        self._stall_rate = stall_rate
        self._stall_s = stall_s
        self._rng = random.Random(seed)
        self.failures = 0
        self.stalls = 0

    def supports(self, model_hash: bytes, runtime: str) -> bool:
        return self._honest.supports(model_hash, runtime)

    async def run(self, model_hash: bytes, input_bytes: bytes) -> bytes:
        roll = self._rng.random()
        if roll < self._fail_rate:
            self.failures += 1
            raise RuntimeError("flaky executor: simulated crash")
        if roll < self._fail_rate + self._stall_rate:
            self.stalls += 1
            await trio.sleep(self._stall_s)
        return await self._honest.run(model_hash, input_bytes)


class SlowExecutor:
    """An honest executor that takes at least `delay_s` per shard (for churn and kill tests)."""

    def __init__(self, honest: ShardExecutor, delay_s: float) -> None:
        self._honest = honest
        self._delay_s = delay_s

    def supports(self, model_hash: bytes, runtime: str) -> bool:
        return self._honest.supports(model_hash, runtime)

    async def run(self, model_hash: bytes, input_bytes: bytes) -> bytes:
        await trio.sleep(self._delay_s)
        return await self._honest.run(model_hash, input_bytes)


class RevealBoard:
    """Outputs that have been revealed somewhere, keyed by input hash (a lazy node reads it)."""

    def __init__(self) -> None:
        self.outputs: dict[bytes, bytes] = {}
        self.copied = 0
        self.guessed = 0
        self._posted = trio.Event()

    def post(self, input_bytes: bytes, output: bytes) -> None:
        self.outputs[hashlib.sha256(input_bytes).digest()] = output
        self._posted.set()
        self._posted = trio.Event()

    async def wait_posted(self) -> None:
        await self._posted.wait()


class LazyCopyExecutor:
    """Never computes: waits for someone else's revealed answer and copies it.

    If nothing is revealed within `patience_s` it commits a guess (all zeros of
    the honest output's shape, taken from any earlier copy or a fixed shape).
    """

    def __init__(self, board: RevealBoard, *, patience_s: float = 2.0) -> None:
        self._board = board
        self._patience_s = patience_s

    def supports(self, model_hash: bytes, runtime: str) -> bool:
        return True

    async def run(self, model_hash: bytes, input_bytes: bytes) -> bytes:
        key = hashlib.sha256(input_bytes).digest()
        with trio.move_on_after(self._patience_s):
            while key not in self._board.outputs:
                await self._board.wait_posted()
        if key in self._board.outputs:
            self._board.copied += 1
            return self._board.outputs[key]
        self._board.guessed += 1
        items = decode_tensor(input_bytes, max_bytes=1 << 28).shape[0]
        return encode_tensor(np.zeros((items, 1000), dtype=np.int32))


def with_fault(executor: ShardExecutor, fault: str | None) -> ShardExecutor:
    if fault is None:
        return executor
    if fault == "wrong-output":
        return WrongOutputExecutor(executor)
    if fault == "flaky":
        return FlakyExecutor(executor)
    if fault == "perturb-output":
        return PerturbedOutputExecutor(executor)
    if fault == "float-noise":
        return PerturbedOutputExecutor(executor, scale=FLOAT_NOISE_SCALE, seed_by_input=False)
    raise ValueError(f"unknown fault {fault!r}; known faults: {', '.join(FAULTS)}")


class SharedCpuExecutor:
    """Takes turns on the host's CPUs: an in-process fleet of many nodes on a 2-core machine.

    Without it, every node's inference thread competes with the event loop
    that also carries the other nodes' streams, and protocol timeouts fire.
    """

    def __init__(self, honest: ShardExecutor, limiter: trio.CapacityLimiter) -> None:
        self._honest = honest
        self._limiter = limiter

    def supports(self, model_hash: bytes, runtime: str) -> bool:
        return self._honest.supports(model_hash, runtime)

    async def run(self, model_hash: bytes, input_bytes: bytes) -> bytes:
        async with self._limiter:
            return await self._honest.run(model_hash, input_bytes)
