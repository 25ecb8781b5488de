"""A live fleet of in-process nodes plus an explorer serving HTTP, run in a background thread.

For the explorer's browser tests, the screenshot script and the latency
benchmark: synchronous code (Selenium) drives a real trio fleet through
`set_state`, which runs on the fleet's trio thread.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import trio

from p2pfleet.core.advert import VehicleState
from p2pfleet.explorer.server import serve_http
from p2pfleet.explorer.service import Explorer, ExplorerConfig, open_explorer
from p2pfleet.inference.store import ModelStore
from p2pfleet.node.config import NodeConfig
from p2pfleet.node.daemon import Node, open_node
from p2pfleet.node.vehicle import SimulatedVehicleConfig

LOOPBACK = ("/ip4/127.0.0.1/tcp/0",)


@dataclass(frozen=True, slots=True, kw_only=True)
class VehicleSpec:
    state: VehicleState = VehicleState.PARKED
    battery_pct: int = 80
    region: str = "local"
    tier_watts: int = 300
    parked_for_s: float = 3 * 3600.0


class ExplorerFleet:
    """`with ExplorerFleet(tmp, specs) as fleet:` -> `fleet.url`, `fleet.peer_ids`, `fleet.set_state`.

    With no vehicles and an explorer config, it runs the explorer alone (the empty state).
    """

    def __init__(
        self,
        base_dir: Path,
        specs: Sequence[VehicleSpec],
        *,
        model: bytes | None = None,
        explorer: ExplorerConfig | None = None,
        start_timeout_s: float = 120.0,
    ) -> None:
        if not specs and explorer is None:
            raise ValueError("give vehicles, or an explorer config to run the explorer alone")
        self.base_dir = base_dir
        self.specs = list(specs)
        self.model = model
        self.explorer_config = explorer
        self.start_timeout_s = start_timeout_s
        self.url = ""
        self.peer_ids: list[str] = []
        self.nodes: list[Node] = []
        self.explorer: Explorer | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="explorer-fleet", daemon=True)

    def __enter__(self) -> ExplorerFleet:
        self._thread.start()
        ready = self._ready.wait(self.start_timeout_s)
        if ready and self._error is None:
            return self
        self.stop()  # never leave nodes running behind a failed start
        if self._error is not None:
            raise RuntimeError(f"fleet failed to start: {self._error!r}") from self._error
        raise TimeoutError(f"fleet not ready after {self.start_timeout_s:.0f} s")

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if self._token is not None and self._stop is not None and self._thread.is_alive():
            with suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(60)

    def set_state(self, index: int, state: VehicleState) -> None:
        """Change vehicle `index`'s state now (the node re-advertises at once)."""
        trio.from_thread.run_sync(
            self.nodes[index].vehicle.set_state, state, trio_token=self._require_token()
        )

    def run(self, async_function: Any, *args: Any) -> Any:
        """Run `await async_function(*args)` on the fleet's trio thread and return its result."""
        return trio.from_thread.run(async_function, *args, trio_token=self._require_token())

    def call(self, function: Any, *args: Any) -> Any:
        """Run a synchronous function on the fleet's trio thread (e.g. to read state safely)."""
        return trio.from_thread.run_sync(function, *args, trio_token=self._require_token())

    def _require_token(self) -> trio.lowlevel.TrioToken:
        if self._token is None:
            raise RuntimeError("the fleet is not running")
        return self._token

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()

    def _node_config(self, index: int, spec: VehicleSpec, bootstrap: tuple[str, ...]) -> NodeConfig:
        directory = self.base_dir / f"node{index}"
        if self.model is not None:
            ModelStore(directory / "models").put(self.model)
        return NodeConfig(
            data_dir=directory,
            listen=LOOPBACK,
            bootstrap=bootstrap,
            region=spec.region,
            tier_watts=spec.tier_watts,
            advert_interval_s=2.0,
            advert_ttl_s=20.0,
            vehicle=SimulatedVehicleConfig(
                state=spec.state,
                battery_pct=spec.battery_pct,
                plugged_in=spec.state is VehicleState.CHARGING,
                parked_for_s=spec.parked_for_s,
            ),
        )

    def _first(self) -> str | None:
        return self.nodes[0].host.listen_addrs()[0] if self.nodes else None

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with AsyncExitStack() as stack:
            # Every node dials the first node, and the first node of its own region, so each
            # region's gossip mesh is connected; the explorer gets one bootstrap per region.
            per_region: dict[str, str] = {}
            for index, spec in enumerate(self.specs):
                bootstrap = tuple(
                    dict.fromkeys(a for a in (self._first(), per_region.get(spec.region)) if a)
                )
                node = await stack.enter_async_context(
                    open_node(self._node_config(index, spec, bootstrap))
                )
                self.nodes.append(node)
                per_region.setdefault(spec.region, node.host.listen_addrs()[0])
            self.peer_ids = [node.peer_id for node in self.nodes]
            config = self.explorer_config or ExplorerConfig(
                bootstrap=(),
                status_interval_s=2.0,
                history_interval_s=1.0,
                refresh_s=1.0,
            )
            if self.nodes:  # with no vehicles the explorer keeps its own bootstrap list
                config = replace(config, bootstrap=tuple(per_region.values()))
            self.explorer = await stack.enter_async_context(open_explorer(config))
            async with trio.open_nursery() as nursery:
                self.url = await nursery.start(serve_http, self.explorer, "127.0.0.1:0")
                self._ready.set()
                await self._stop.wait()
                nursery.cancel_scope.cancel()
