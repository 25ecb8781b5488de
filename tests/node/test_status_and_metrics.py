"""`p2pfleet node status --json` against a running node, and a Prometheus scrape."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import trio
from prometheus_client.parser import text_string_to_metric_families

from p2pfleet.core.identity import Identity
from p2pfleet.core.task_messages import Accept, Commit, Result, RevealRequest
from p2pfleet.net.host import HostConfig, open_host
from p2pfleet.node.daemon import open_node
from p2pfleet.testing.task_client import one_shard_job, open_task, synthetic_batch
from tests.node.fleet_fixtures import LOOPBACK, node_config

REPO = Path(__file__).resolve().parents[2]
STATUS_SCHEMA: dict[str, type | tuple[type, ...]] = {
    "peer_id": str,
    "addrs": list,
    "region": str,
    "state": str,
    "battery_pct": int,
    "plugged_in": bool,
    "link": str,
    "temperature_c": (float, int, type(None)),
    "departure_ms": (int, type(None)),
    "accepting": bool,
    "refusal": (str, type(None)),
    "draining": bool,
    "connected_peers": int,
    "known_adverts": int,
    "running_tasks": int,
    "max_concurrent_tasks": int,
    "tasks_today": int,
    "tasks_completed_today": int,
    "energy_today_wh": (float, int),
    "energy_budget_wh": int,
    "cellular_mb_today": (float, int),
    "cellular_cap_mb": (int, type(None)),
    "model_mb_today": (float, int),
    "adverts_published": int,
    "uptime_s": (float, int),
}


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
        return body


def test_status_json_and_metrics_after_a_real_task(tmp_path: Path, mobilenet_int8: bytes) -> None:
    model_hash = hashlib.sha256(mobilenet_int8).digest()
    submitter = Identity(bytes(range(4, 36)))
    batch = synthetic_batch(2)
    config = node_config(tmp_path / "car", mobilenet_int8, metrics_address="127.0.0.1:0")

    async def main() -> tuple[dict[str, object], str]:
        async with open_node(config) as node:
            client_config = HostConfig(seed=submitter.seed, listen_addrs=LOOPBACK)
            async with open_host(client_config) as client:
                await client.connect(node.host.listen_addrs()[0])
                signed = one_shard_job(submitter, model_hash, batch, items=2)
                with trio.fail_after(120):
                    session = await open_task(client, node.peer_id, signed, batch)
                    assert isinstance(await session.receive(), Accept)
                    assert isinstance(await session.receive(), Commit)
                    await session.send(RevealRequest())
                    assert isinstance(await session.receive(), Result)
                    while node.tasks.active:
                        await node.tasks.wait_changed()
            command = [sys.executable, "-m", "p2pfleet", "node", "status", "--json"]
            command += ["--data-dir", str(config.data_dir)]
            with trio.fail_after(120):
                done = await trio.run_process(
                    command, capture_stdout=True, capture_stderr=True, env={"PYTHONPATH": str(REPO)}
                )
                assert node.metrics_url is not None
                metrics = await trio.to_thread.run_sync(fetch, node.metrics_url + "/metrics")
            return json.loads(done.stdout), metrics.decode()

    status, metrics = trio.run(main)
    for key, kind in STATUS_SCHEMA.items():
        assert isinstance(status[key], kind), (key, status[key])
    assert set(status) == set(STATUS_SCHEMA)
    assert status["state"] == "parked" and status["accepting"] is True
    assert status["tasks_completed_today"] == 1 and status["tasks_today"] == 1
    assert isinstance(status["energy_today_wh"], float) and status["energy_today_wh"] > 0
    assert status["energy_budget_wh"] == config.policy.daily_energy_budget_wh

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
    }
    assert samples[("p2pfleet_node_tasks_total", (("outcome", "completed"),))] == 1
    assert samples[("p2pfleet_node_energy_wh_total", ())] > 0
    assert samples[("p2pfleet_node_vehicle_state", (("state", "parked"),))] == 1
    assert samples[("p2pfleet_node_vehicle_state", (("state", "driving"),))] == 0
    assert samples[("p2pfleet_node_task_data_bytes_total", (("link", "other"),))] > 0
    assert samples[("p2pfleet_node_task_data_bytes_total", (("link", "cellular"),))] == 0
    assert samples[("p2pfleet_node_accepting", ())] == 1
    assert status["model_mb_today"] == 0  # the model was already stored: nothing moved
    assert (
        samples[
            (
                "p2pfleet_node_model_transfer_bytes_total",
                (("direction", "download"), ("link", "cellular")),
            )
        ]
        == 0
    )


def test_status_without_a_running_node_says_so(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "p2pfleet", "node", "status", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert done.returncode == 3
    assert "no running node found" in done.stderr
