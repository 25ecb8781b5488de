"""Worker slots: models stay warm, the time limit and the memory limit stop a shard."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import trio

from p2pfleet.inference.runtime import load_model, run_shard
from p2pfleet.inference.store import ModelStore
from p2pfleet.node.worker_pool import ExecutionError, WorkerLimits, WorkerPool, WorkerTimeout
from p2pfleet.testing.task_client import synthetic_batch


def make_pool(tmp_path: Path, model: bytes, **limits: float) -> tuple[WorkerPool, bytes]:
    store = ModelStore(tmp_path / "models")
    store.put(model)
    return WorkerPool(store, WorkerLimits(**limits)), hashlib.sha256(model).digest()  # type: ignore[arg-type]


def test_worker_output_matches_in_process_run_and_stays_warm(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    pool, model_hash = make_pool(tmp_path, mobilenet_int8)
    batch = synthetic_batch(2, seed=3)
    expected = run_shard(load_model(mobilenet_int8), batch)

    async def main() -> tuple[bytes, list[int], list[int]]:
        with trio.fail_after(120):
            first = await pool.run(model_hash, batch)
            pids = pool.worker_pids()
            await pool.run(model_hash, batch)
            again = pool.worker_pids()
            await pool.aclose()
        return first, pids, again

    output, pids, again = trio.run(main)
    assert output == expected
    assert len(pids) == 1 and pids == again  # the same warm worker served both shards


def test_time_limit_kills_the_worker(tmp_path: Path, mobilenet_int8: bytes) -> None:
    pool, model_hash = make_pool(tmp_path, mobilenet_int8, time_limit_s=0.3)

    async def main() -> None:
        with trio.fail_after(120):
            with pytest.raises(WorkerTimeout, match="time limit"):
                await pool.run(model_hash, synthetic_batch(160))
            assert pool.killed == 1 and pool.worker_pids() == []
            await pool.aclose()

    trio.run(main)


def test_memory_limit_fails_the_shard_and_the_pool_recovers(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    pool, model_hash = make_pool(tmp_path, mobilenet_int8, memory_mb=200)
    roomy, _ = make_pool(tmp_path, mobilenet_int8, memory_mb=1024)
    batch = synthetic_batch(160)

    async def main() -> None:
        with trio.fail_after(300):
            with pytest.raises(ExecutionError, match="memory limit"):
                await pool.run(model_hash, batch)
            assert pool.killed == 1
            assert len(await roomy.run(model_hash, batch)) > 0  # the same shard fits in 1 GiB
            await pool.aclose()
            await roomy.aclose()

    trio.run(main)


def test_a_worker_dies_with_its_parent(tmp_path: Path, mobilenet_int8: bytes) -> None:
    """A SIGKILLed node must not leave a worker behind (the worker's parent watchdog)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    store = ModelStore(tmp_path / "models")
    store.put(mobilenet_int8)
    # The test holds the write end of the worker's stdin, so the worker never sees
    # EOF: only its parent watchdog can stop it.
    read_end, write_end = os.pipe()
    parent_code = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-m', 'p2pfleet.node.worker',"
        f" '--store', {str(store.directory)!r}, '--parent-pid', str(os.getpid())],"
        f" stdin={read_end})\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code],
        stdout=subprocess.PIPE,
        text=True,
        pass_fds=(read_end,),
    )
    os.close(read_end)
    try:
        assert parent.stdout is not None
        worker_pid = int(parent.stdout.readline())

        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=60)
        deadline = time.monotonic() + 60
        while _alive(worker_pid) and time.monotonic() < deadline:  # another process: poll
            time.sleep(0.02)
        assert not _alive(worker_pid), "the worker outlived its killed parent"
    finally:
        os.close(write_end)
        if parent.poll() is None:
            parent.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_a_dead_idle_worker_is_replaced(tmp_path: Path, mobilenet_int8: bytes) -> None:
    import os
    import signal

    pool, model_hash = make_pool(tmp_path, mobilenet_int8)
    batch = synthetic_batch(1)

    async def main() -> None:
        with trio.fail_after(120):
            first = await pool.run(model_hash, batch)
            (pid,) = pool.worker_pids()
            pidfd = os.pidfd_open(pid)
            os.kill(pid, signal.SIGKILL)  # e.g. the kernel's OOM killer
            await trio.lowlevel.wait_readable(pidfd)  # readable once the worker has exited
            os.close(pidfd)
            assert await pool.run(model_hash, batch) == first
            assert pool.worker_pids() != [pid]
            await pool.aclose()

    trio.run(main)
