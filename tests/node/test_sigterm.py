"""SIGTERM on a real `python -m p2pfleet node`: drain or abandon running work, exit 0."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from p2pfleet.core.identity import Identity
from p2pfleet.core.task_messages import Abandon, Accept, Commit, RejectReason, Result, RevealRequest
from p2pfleet.inference.store import ModelStore
from p2pfleet.net.host import HostConfig, open_host
from p2pfleet.testing.task_client import one_shard_job, open_task, synthetic_batch

REPO = Path(__file__).resolve().parents[2]
IMAGES = 160


def start_node(directory: Path, model: bytes, grace_s: float) -> subprocess.Popen[bytes]:
    ModelStore(directory / "models").put(model)
    (directory / "node.toml").write_text(
        "[node]\n"
        'data_dir = "."\n'
        'listen = ["/ip4/127.0.0.1/tcp/0"]\n'
        f"drain_grace_s = {grace_s}\n"
        "advert_interval_s = 1\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "p2pfleet", "node", "--config", str(directory / "node.toml")]
    command += ["--ready-file", str(directory / "ready.json"), "-v", "--log-format", "json"]
    log = (directory / "node.log").open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


async def wait_ready(process: subprocess.Popen[bytes], directory: Path) -> dict[str, str]:
    ready = directory / "ready.json"
    with trio.fail_after(60):
        while not ready.exists():  # another process: there is no event to wait on
            assert process.poll() is None, (directory / "node.log").read_text()
            await trio.sleep(0.05)
    info: dict[str, str] = json.loads(ready.read_text())
    return info


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(p) for p in (task / "children").read_text().split())
    return found


async def wait_exit(process: subprocess.Popen[bytes]) -> int:
    with trio.fail_after(60):
        return await trio.to_thread.run_sync(process.wait)


def test_sigterm_on_an_idle_node_exits_zero(tmp_path: Path, mobilenet_int8: bytes) -> None:
    process = start_node(tmp_path, mobilenet_int8, grace_s=20)

    async def main() -> None:
        try:
            info = await wait_ready(process, tmp_path)
            assert (tmp_path / "control.json").exists() and info["control_url"]
            process.send_signal(signal.SIGTERM)
            assert await wait_exit(process) == 0
        finally:
            if process.poll() is None:
                process.kill()

    trio.run(main)
    assert not (tmp_path / "control.json").exists()
    events = [json.loads(line)["event"] for line in _json_lines(tmp_path / "node.log")]
    assert "node.started" in events and "node.draining" in events


def _json_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.startswith("{")]


@pytest.mark.parametrize("grace_s", [0.5])
def test_sigterm_abandons_running_work_after_the_grace_period(
    tmp_path: Path, mobilenet_int8: bytes, grace_s: float
) -> None:
    model_hash = hashlib.sha256(mobilenet_int8).digest()
    submitter = Identity(bytes(range(2, 34)))
    batch = synthetic_batch(IMAGES)
    process = start_node(tmp_path, mobilenet_int8, grace_s=grace_s)

    async def main() -> None:
        try:
            info = await wait_ready(process, tmp_path)
            client_config = HostConfig(seed=submitter.seed, listen_addrs=("/ip4/127.0.0.1/tcp/0",))
            async with open_host(client_config) as client:
                await client.connect(info["addrs"][0])
                signed = one_shard_job(submitter, model_hash, batch, items=IMAGES)
                with trio.fail_after(60):
                    session = await open_task(client, info["peer_id"], signed, batch)
                    assert isinstance(await session.receive(), Accept)
                with trio.fail_after(30):  # another process: poll for its worker
                    while not (workers := children(process.pid)):
                        assert process.poll() is None
                        await trio.sleep(0.02)

                process.send_signal(signal.SIGTERM)
                with trio.fail_after(30):
                    message = await session.receive()
                assert isinstance(message, Abandon), message
                assert message.reason is RejectReason.SHUTTING_DOWN
                assert await wait_exit(process) == 0
            for pid in workers:  # the worker processes died with the work
                assert _gone(pid)
        finally:
            if process.poll() is None:
                process.kill()

    trio.run(main)
    events = [json.loads(line)["event"] for line in _json_lines(tmp_path / "node.log")]
    assert "task.abandoned" in events


def _gone(pid: int) -> bool:
    """The process no longer runs (reaped, or a zombie awaiting its reaper)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_sigterm_lets_running_work_finish_within_the_grace_period(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    model_hash = hashlib.sha256(mobilenet_int8).digest()
    submitter = Identity(bytes(range(3, 35)))
    batch = synthetic_batch(4)
    process = start_node(tmp_path, mobilenet_int8, grace_s=60)

    async def main() -> None:
        try:
            info = await wait_ready(process, tmp_path)
            client_config = HostConfig(seed=submitter.seed, listen_addrs=("/ip4/127.0.0.1/tcp/0",))
            async with open_host(client_config) as client:
                await client.connect(info["addrs"][0])
                signed = one_shard_job(submitter, model_hash, batch, items=4)
                with trio.fail_after(60):
                    session = await open_task(client, info["peer_id"], signed, batch)
                    assert isinstance(await session.receive(), Accept)
                    process.send_signal(signal.SIGTERM)
                    commit = await session.receive()
                    assert isinstance(commit, Commit), commit
                    await session.send(RevealRequest())
                    result = await session.receive()
                    assert isinstance(result, Result) and result.output_hash == commit.output_hash
                assert await wait_exit(process) == 0
        finally:
            if process.poll() is None:
                process.kill()

    trio.run(main)
