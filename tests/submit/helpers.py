"""Shared pieces for submitter tests on real in-process libp2p nodes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import trio
from PIL import Image

from p2pfleet.inference.images import sample_photos
from p2pfleet.inference.runtime import load_model, run_shard
from p2pfleet.node.daemon import Node
from p2pfleet.submit.client import ClientConfig, JobResult
from p2pfleet.submit.events import JobEvent
from p2pfleet.submit.replica import ReplicaTimeouts
from p2pfleet.testing.faults import SharedCpuExecutor

# Fewer adverts: ten in-process nodes gossiping every second starve a 2-core machine.
QUIET = {"advert_interval_s": 3.0, "advert_ttl_s": 60.0}
PHOTOS = ("coffee", "chelsea", "astronaut", "rocket", "motorcycle", "camera", "clock", "coins")


def write_photos(directory: Path, names: tuple[str, ...] = PHOTOS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, pixels in sample_photos():
        if name in names:
            Image.fromarray(pixels).save(directory / f"{name}.png")
    return directory


def client_config(tmp: Path, nodes: list[Node], **changes: object) -> ClientConfig:
    fields: dict[str, object] = {
        "data_dir": tmp / "submitter",
        "bootstrap": (nodes[0].host.listen_addrs()[0],),
        "timeouts": ReplicaTimeouts(accept_s=30.0, commit_s=120.0, reveal_s=60.0),
    }
    fields.update(changes)
    return ClientConfig(**fields)  # type: ignore[arg-type]


def honest_hashes(model_bytes: bytes, result: JobResult) -> dict[int, bytes]:
    """What every real shard's output must hash to, computed here, independently."""
    model = load_model(model_bytes)
    return {
        s.index: hashlib.sha256(run_shard(model, s.input_bytes)).digest()
        for s in result.plan.real_shards
    }


class EventLog(list[JobEvent]):
    def __call__(self, event: JobEvent) -> None:
        self.append(event)
        if os.environ.get("P2PFLEET_TEST_EVENTS"):  # watch a slow test live
            print(event.to_json(), flush=True)

    def kinds(self) -> list[str]:
        return [e.kind.value for e in self]


def share_cpu(nodes: list[Node], limit: int = 1) -> None:
    """In-process nodes take turns on the CPU (see SharedCpuExecutor)."""
    limiter = trio.CapacityLimiter(limit)
    for node in nodes:
        node.tasks._executor = SharedCpuExecutor(node.tasks._executor, limiter)
