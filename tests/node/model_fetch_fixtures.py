"""Model-fetch set-ups on real py-libp2p hosts (127.0.0.1, port 0): providers and one fetcher."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from p2pfleet.core.protocol_ids import MODEL_PROTOCOL
from p2pfleet.inference.store import ModelStore
from p2pfleet.net.host import FleetHost, HostConfig, open_hosts
from p2pfleet.node.data_meter import DataMeter
from p2pfleet.node.model_service import ModelService

DEADLINE_S = 120.0


def run(main: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        with trio.fail_after(DEADLINE_S):
            await main()

    trio.run(bounded)


def host_config(name: str) -> HostConfig:
    return HostConfig(seed=hashlib.sha256(name.encode()).digest(), gossip=None)


def fixed(peers: Sequence[FleetHost]) -> Any:
    """A providers callback that always names `peers`, in order."""

    async def providers(model_hash: bytes) -> list[str]:
        return [p.peer_id for p in peers]

    return providers


def no_leftovers(store: ModelStore, model_hash: str) -> None:
    assert not store.part_path(model_hash).exists()
    assert store.hashes() == [model_hash]
    assert hashlib.sha256(store.get(model_hash)).hexdigest() == model_hash


@dataclass(frozen=True)
class Provider:
    """One provider host: its service class, whether it stores the model, service attributes."""

    name: str
    cls: type[ModelService] = ModelService
    stored: bool = True
    attrs: dict[str, object] = field(default_factory=dict)
    meter: DataMeter | None = None


@dataclass
class FetchSetup:
    model_hash: str  # hex
    hosts: list[FleetHost]  # the providers' hosts, in order
    providers: list[ModelService]
    fetcher_host: FleetHost
    fetch_store: ModelStore
    fetcher: ModelService

    @property
    def model(self) -> bytes:
        return bytes.fromhex(self.model_hash)


class ModelFetchRig:
    """Builds provider hosts that serve the model and a connected fetcher (`tests/node/conftest.py`)."""

    def __init__(self, tmp_path: Path, model_bytes: bytes) -> None:
        self.tmp_path = tmp_path
        self.model_bytes = model_bytes

    @asynccontextmanager
    async def open(
        self,
        *providers: Provider,
        fetch_store: ModelStore | None = None,
        fetcher_meter: DataMeter | None = None,
    ) -> AsyncIterator[FetchSetup]:
        configs = [host_config(p.name) for p in providers] + [host_config("fetcher")]
        async with open_hosts(configs) as hosts:
            *provider_hosts, fetcher_host = hosts
            model_hash = hashlib.sha256(self.model_bytes).hexdigest()
            services = []
            for spec, host in zip(providers, provider_hosts, strict=True):
                store = ModelStore(self.tmp_path / spec.name)
                if spec.stored:
                    store.put(self.model_bytes)
                service = spec.cls(store, host, fixed([]), meter=spec.meter)
                for key, value in spec.attrs.items():
                    setattr(service, key, value)
                host.set_handler(MODEL_PROTOCOL, service.serve)
                services.append(service)
            for host in provider_hosts:
                await fetcher_host.connect(host.listen_addrs()[0])
            store = fetch_store or ModelStore(self.tmp_path / "fetcher")
            fetcher = ModelService(store, fetcher_host, fixed(provider_hosts), meter=fetcher_meter)
            yield FetchSetup(
                model_hash, list(provider_hosts), services, fetcher_host, store, fetcher
            )
