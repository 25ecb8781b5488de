"""The executor interface, and the in-process thread executor.

Nodes run shards in worker processes (`worker_pool.WorkerPool`), which can be
killed. `ModelExecutor` runs them in a thread of the node's own process: a
cancelled shard is abandoned but its thread computes on until the end, so it
is kept only for tests and for the side-by-side in tools/bench_preemption.py.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

import trio

from p2pfleet.inference.engine import RUNTIMES, Runner, load_runner
from p2pfleet.inference.store import ModelStore


class ShardExecutor(Protocol):
    def supports(self, model_hash: bytes, runtime: str) -> bool: ...

    async def run(self, model_hash: bytes, input_bytes: bytes) -> bytes: ...


class ModelExecutor:
    """Loads models from the store and runs shards in a thread (cannot be stopped)."""

    def __init__(self, store: ModelStore, *, cache_size: int = 2) -> None:
        self._store = store
        self._loaded: OrderedDict[bytes, Runner] = OrderedDict()
        self._cache_size = cache_size

    def supports(self, model_hash: bytes, runtime: str) -> bool:
        return runtime in RUNTIMES and self._store.has(model_hash.hex())

    def _model(self, model_hash: bytes) -> Runner:
        model = self._loaded.pop(model_hash, None)
        if model is None:
            model = load_runner(self._store.get(model_hash.hex()))
        self._loaded[model_hash] = model
        while len(self._loaded) > self._cache_size:
            self._loaded.popitem(last=False)
        return model

    async def run(self, model_hash: bytes, input_bytes: bytes) -> bytes:
        with self._store.using(model_hash.hex()):  # never evicted while it runs
            model = await trio.to_thread.run_sync(self._model, model_hash)
            return await trio.to_thread.run_sync(
                model.run_bytes, input_bytes, abandon_on_cancel=True
            )
