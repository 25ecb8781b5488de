"""A worker process: runs shards for the node's worker pool, one at a time.

Started by `WorkerPool` as `python -m p2pfleet.node.worker --store DIR
--memory-mb N --parent-pid PID`. It caps its own address space (RLIMIT_AS),
exits when the node process dies, and answers requests on stdin/stdout until
stdin closes. Each message is two frames (a 4-byte big-endian length, then
bytes): a JSON header and a binary payload.

    request:  {"model": "<sha256 hex>"}  + canonical input tensor bytes
    response: {"ok": true}               + canonical output tensor bytes
              {"ok": false, "error": "..."} + b""

Loaded models stay warm between shards. The parent kills the process to
cancel a shard: that stops the compute (and its energy use) at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import struct
import sys
import threading
import time
from collections import OrderedDict
from typing import BinaryIO

MAX_FRAME = 256 * 1024 * 1024
_LENGTH = struct.Struct(">I")


def read_frame(stream: BinaryIO) -> bytes | None:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    if length > MAX_FRAME:
        raise ValueError(f"frame of {length} bytes exceeds {MAX_FRAME}")
    data = stream.read(length)
    if len(data) < length:
        return None
    return data


def encode_frame(data: bytes) -> bytes:
    return _LENGTH.pack(len(data)) + data


def die_with_parent(parent: int, poll_s: float = 0.2) -> None:
    """Exit when the node dies, so a killed node leaves no compute behind.

    A watchdog thread notices the reparenting. (PR_SET_PDEATHSIG would fire
    when the *thread* that spawned us exits, and trio spawns from a worker
    thread, so it would kill healthy idle workers.)
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def limit_memory(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def serve(store_dir: str, stdin: BinaryIO, stdout: BinaryIO, cache_size: int = 2) -> None:
    from p2pfleet.inference.engine import Runner, load_runner
    from p2pfleet.inference.store import ModelStore

    store = ModelStore(store_dir)
    loaded: OrderedDict[str, Runner] = OrderedDict()
    while True:
        header = read_frame(stdin)
        payload = read_frame(stdin)
        if header is None or payload is None:
            return
        reply: dict[str, object]
        try:
            model_hash = str(json.loads(header)["model"])
            model = loaded.pop(model_hash, None) or load_runner(store.get(model_hash))
            loaded[model_hash] = model
            while len(loaded) > cache_size:
                loaded.popitem(last=False)
            reply, output = {"ok": True}, model.run_bytes(payload)
        except MemoryError:
            loaded.clear()
            reply, output = {"ok": False, "error": "the worker's memory limit was exceeded"}, b""
        except Exception as exc:  # reported to the parent, which abandons the shard
            reply, output = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}, b""
        stdout.write(encode_frame(json.dumps(reply).encode()) + encode_frame(output))
        stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m p2pfleet.node.worker")
    parser.add_argument("--store", required=True, help="the node's model store folder")
    parser.add_argument("--memory-mb", type=int, default=0, help="address-space cap (0: none)")
    parser.add_argument("--parent-pid", type=int, default=0, help="exit when this process dies")
    args = parser.parse_args()
    die_with_parent(args.parent_pid or os.getppid())
    if args.memory_mb:
        limit_memory(args.memory_mb)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints must not corrupt the frame stream
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.store, stdin, stdout)
    os._exit(0)


if __name__ == "__main__":
    main()
