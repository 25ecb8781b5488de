"""Worker slots: shards run in subprocesses with a time limit and a memory limit.

A thread cannot be stopped; a process can. Cancelling `run` (driving, SIGTERM,
time limit) kills the worker process at once, so the compute and its energy
use really stop. Idle workers stay alive with their model loaded.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import subprocess
import sys
from dataclasses import dataclass

import trio

from p2pfleet.inference.engine import RUNTIMES
from p2pfleet.inference.store import ModelStore
from p2pfleet.node.worker import MAX_FRAME, encode_frame

log = logging.getLogger("p2pfleet.node.worker")

_LENGTH = struct.Struct(">I")


class ExecutionError(Exception):
    """A shard could not run to completion; the message says why."""


class WorkerTimeout(ExecutionError):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerLimits:
    slots: int = 1
    time_limit_s: float = 600.0
    memory_mb: int = 2048  # address space per worker (RLIMIT_AS); 0: no cap
    threads: int = 1  # numpy/BLAS threads per worker

    def __post_init__(self) -> None:
        if self.slots < 1 or not self.time_limit_s > 0 or self.memory_mb < 0 or self.threads < 1:
            raise ValueError("slots >= 1, time_limit_s > 0, memory_mb >= 0 and threads >= 1")


class _Worker:
    def __init__(self, process: trio.Process) -> None:
        self.process = process
        assert process.stdin is not None and process.stdout is not None
        self.stdin = process.stdin
        self.stdout = process.stdout
        self.buffer = bytearray()

    async def read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = await self.stdout.receive_some(max(65536, size - len(self.buffer)))
            if not chunk:
                raise ExecutionError("the worker process exited unexpectedly")
            self.buffer += chunk
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def read_frame(self) -> bytes:
        (length,) = _LENGTH.unpack(await self.read_exactly(_LENGTH.size))
        if length > MAX_FRAME:
            raise ExecutionError(f"worker sent a {length}-byte frame")
        return await self.read_exactly(length)

    async def kill(self) -> None:
        with trio.CancelScope(shield=True):
            if self.process.returncode is None:
                self.process.kill()
            await self.process.wait()


class WorkerPool:
    """Runs shards of stored models in worker processes (the node's `ShardExecutor`)."""

    def __init__(self, store: ModelStore, limits: WorkerLimits | None = None) -> None:
        self._store = store
        self.limits = limits or WorkerLimits()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._slots = trio.Semaphore(self.limits.slots)
        self.killed = 0
        self._changed = trio.Event()

    async def wait_changed(self) -> None:
        """Wake when a worker starts or stops running a shard."""
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def supports(self, model_hash: bytes, runtime: str) -> bool:
        return runtime in RUNTIMES and self._store.has(model_hash.hex())

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in (*self._idle, *self._busy)]

    def busy_pids(self) -> list[int]:
        """Worker processes running a shard right now."""
        return [w.process.pid for w in self._busy]

    async def _take_worker(self) -> _Worker:
        """A warm idle worker that is still alive, or a new one."""
        while self._idle:
            worker = self._idle.pop()
            if worker.process.poll() is None:
                return worker
            log.warning(
                "idle worker process %d had exited with %s; starting a new one",
                worker.process.pid,
                worker.process.returncode,
            )
            await worker.kill()
        return await self._spawn()

    async def _spawn(self) -> _Worker:
        command = [
            sys.executable,
            "-m",
            "p2pfleet.node.worker",
            "--store",
            str(self._store.directory),
        ]
        command += ["--memory-mb", str(self.limits.memory_mb), "--parent-pid", str(os.getpid())]
        threads = str(self.limits.threads)
        env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads)
        process = await trio.lowlevel.open_process(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        log.debug("started worker process %d", process.pid, extra={"event": "worker.started"})
        return _Worker(process)

    async def run(self, model_hash: bytes, input_bytes: bytes) -> bytes:
        with self._store.using(model_hash.hex()):  # never evicted while it runs
            return await self._run(model_hash, input_bytes)

    async def _run(self, model_hash: bytes, input_bytes: bytes) -> bytes:
        async with self._slots:
            worker = await self._take_worker()
            self._busy.add(worker)
            self._notify()
            healthy = False
            try:
                with trio.fail_after(self.limits.time_limit_s):
                    output = await self._exchange(worker, model_hash, input_bytes)
                healthy = True
                return output
            except trio.TooSlowError:
                raise WorkerTimeout(
                    f"the shard ran longer than the time limit ({self.limits.time_limit_s:g} s)"
                ) from None
            finally:
                self._busy.discard(worker)
                self._notify()
                if healthy:
                    self._idle.append(worker)
                else:
                    self.killed += 1
                    await worker.kill()

    async def _exchange(self, worker: _Worker, model_hash: bytes, input_bytes: bytes) -> bytes:
        header = json.dumps({"model": model_hash.hex()}).encode()
        try:
            await worker.stdin.send_all(encode_frame(header) + encode_frame(input_bytes))
            reply = json.loads(await worker.read_frame())
            output = await worker.read_frame()
        except (trio.BrokenResourceError, trio.ClosedResourceError, ExecutionError) as exc:
            with trio.move_on_after(2):
                await worker.process.wait()
            code = worker.process.returncode
            hint = ""
            if self.limits.memory_mb:
                hint = f"; it may have hit its memory limit of {self.limits.memory_mb} MB"
            raise ExecutionError(f"the worker process died (exit code {code}){hint}") from exc
        if not reply.get("ok"):
            raise ExecutionError(str(reply.get("error", "unknown worker error")))
        return output

    async def aclose(self) -> None:
        workers, self._idle = [*self._idle, *self._busy], []
        for worker in workers:
            await worker.kill()
