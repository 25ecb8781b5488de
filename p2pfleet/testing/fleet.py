"""A local fleet of real node processes on 127.0.0.1 (the demo and integration tests)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import trio

from p2pfleet.inference.store import ModelStore


@dataclass(frozen=True, slots=True, kw_only=True)
class VehicleSetup:
    name: str
    state: str = "parked"
    battery_pct: int = 80
    parked_for_s: float = 4 * 3600.0
    tier_watts: int = 300
    fault: str | None = None  # e.g. "wrong-output": a deliberately lying node


@dataclass(slots=True)
class NodeProcess:
    setup: VehicleSetup
    directory: Path
    process: subprocess.Popen[bytes]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def peer_id(self) -> str:
        return str(self.info["peer_id"])

    @property
    def addrs(self) -> list[str]:
        return [str(a) for a in self.info["addrs"]]

    @property
    def log_path(self) -> Path:
        return self.directory / "node.log"


class FleetStartError(RuntimeError):
    """A node process exited or never became ready; its log is quoted."""


def _write_config(
    directory: Path, setup: VehicleSetup, bootstrap: list[str], advert_interval_s: float
) -> Path:
    lines = [
        "[node]",
        'data_dir = "."',
        'listen = ["/ip4/127.0.0.1/tcp/0"]',
        f"bootstrap = {json.dumps(bootstrap)}",
        'region = "local"',
        f"tier_watts = {setup.tier_watts}",
        f"advert_interval_s = {advert_interval_s}",
        f"advert_ttl_s = {max(10.0, 5 * advert_interval_s)}",
        "",
        "[vehicle]",
        f'state = "{setup.state}"',
        f"battery_pct = {setup.battery_pct}",
        f"plugged_in = {'true' if setup.state == 'charging' else 'false'}",
        f"parked_for_s = {setup.parked_for_s}",
        "",
        "[policy]",
        "min_battery_pct = 20",
    ]
    path = directory / "node.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class LocalFleet:
    """Starts `p2pfleet node` processes; the first one is everyone's bootstrap peer."""

    def __init__(
        self, base_dir: Path, *, model_files: list[Path], advert_interval_s: float = 2.0
    ) -> None:
        self.base_dir = base_dir
        self.model_files = model_files
        self.advert_interval_s = advert_interval_s
        self.nodes: list[NodeProcess] = []

    def _spawn(self, setup: VehicleSetup, bootstrap: list[str]) -> NodeProcess:
        directory = self.base_dir / setup.name
        store = ModelStore(directory / "models")
        for model in self.model_files:
            target = store.directory / model.name
            if not target.exists():
                try:
                    os.link(model, target)
                except OSError:
                    shutil.copyfile(model, target)
        config = _write_config(directory, setup, bootstrap, self.advert_interval_s)
        command = [
            sys.executable,
            "-m",
            "p2pfleet",
            "node",
            "--config",
            str(config),
            "--ready-file",
            str(directory / "ready.json"),
            "-v",
        ]
        if setup.fault:
            command += ["--inject-fault", setup.fault]
        log = (directory / "node.log").open("wb")
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        node = NodeProcess(setup, directory, process)
        self.nodes.append(node)
        return node

    async def _wait_ready(self, node: NodeProcess, timeout_s: float) -> None:
        ready = node.directory / "ready.json"
        with trio.move_on_after(timeout_s):
            while not ready.exists():
                if node.process.poll() is not None:
                    raise FleetStartError(
                        f"{node.setup.name} exited with {node.process.returncode}:\n{self.tail(node)}"
                    )
                await trio.sleep(0.05)
            node.info = json.loads(ready.read_text())
            return
        raise FleetStartError(
            f"{node.setup.name} not ready after {timeout_s:.0f} s:\n{self.tail(node)}"
        )

    async def start(self, setups: list[VehicleSetup], *, timeout_s: float = 60.0) -> None:
        first = self._spawn(setups[0], [])
        await self._wait_ready(first, timeout_s)
        bootstrap = first.addrs[:1]
        rest = [self._spawn(setup, bootstrap) for setup in setups[1:]]
        async with trio.open_nursery() as nursery:
            for node in rest:
                nursery.start_soon(self._wait_ready, node, timeout_s)

    @property
    def bootstrap(self) -> list[str]:
        return self.nodes[0].addrs[:1]

    def tail(self, node: NodeProcess, lines: int = 20) -> str:
        try:
            return "\n".join(node.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    async def stop(self, *, grace_s: float = 10.0) -> list[int | None]:
        """SIGTERM every node, wait for a clean exit, SIGKILL stragglers."""
        for node in self.nodes:
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        with trio.move_on_after(grace_s):
            async with trio.open_nursery() as nursery:
                for node in self.nodes:
                    nursery.start_soon(
                        partial(trio.to_thread.run_sync, node.process.wait, abandon_on_cancel=True)
                    )
        for node in self.nodes:
            if node.process.poll() is None:
                node.process.kill()
                node.process.wait()
        return [n.process.returncode for n in self.nodes]
