"""Model fetch over real py-libp2p hosts on 127.0.0.1: fetch, resume, corrupt providers."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
import trio

from p2pfleet.inference.store import ModelStore
from p2pfleet.net.host import FleetHost
from p2pfleet.net.logs import configure_logging
from p2pfleet.node.config import NodeConfig
from p2pfleet.node.daemon import open_node
from p2pfleet.node.model_service import ModelFetchError, ModelService
from p2pfleet.testing.model_faults import LyingModelService, ResettingModelService
from tests.node.fleet_fixtures import LOOPBACK, node_config
from tests.node.model_fetch_fixtures import ModelFetchRig, Provider, no_leftovers, run

configure_logging(logging.INFO, libp2p_level=logging.WARNING)


def test_fetch_from_a_provider(fetch_rig: ModelFetchRig) -> None:
    async def main() -> None:
        async with fetch_rig.open(Provider("p")) as rig:
            await rig.fetcher.fetch(rig.model)
            no_leftovers(rig.fetch_store, rig.model_hash)
            assert rig.fetcher.stats["fetched"] == 1 and not rig.fetcher.stats["liars"]

    run(main)


def test_resume_after_a_reset_mid_transfer(fetch_rig: ModelFetchRig) -> None:
    flaky = Provider("p", ResettingModelService, attrs={"cut_after": 1 << 20})

    async def main() -> None:
        async with fetch_rig.open(flaky) as rig:
            await rig.fetcher.fetch(rig.model)
            no_leftovers(rig.fetch_store, rig.model_hash)
            offsets = rig.providers[0].requested_offsets  # type: ignore[attr-defined]
            assert offsets[0] == 0 and len(offsets) == 2
            assert 0 < offsets[1] <= 1 << 20  # resumed from the .part file, not from zero
            assert rig.fetcher.stats["interrupted"] == 1 and rig.fetcher.stats["resumed"] == 1

    run(main)


@pytest.mark.parametrize("lie", ["garbage", "wrong-size", "short", "overrun"])
def test_a_corrupt_provider_is_detected_and_the_next_one_used(
    fetch_rig: ModelFetchRig, lie: str
) -> None:
    async def main() -> None:
        liar = Provider("liar", LyingModelService, attrs={"lie": lie})
        async with fetch_rig.open(liar, Provider("honest")) as rig:
            await rig.fetcher.fetch(rig.model)
            no_leftovers(rig.fetch_store, rig.model_hash)
            assert rig.fetcher.stats["liars"] == 1
            assert (rig.hosts[0].peer_id, rig.model) in rig.fetcher._liars

    run(main)


def test_only_liars_means_no_model_and_no_file(fetch_rig: ModelFetchRig) -> None:
    async def main() -> None:
        liar = Provider("liar", LyingModelService, attrs={"lie": "garbage"})
        async with fetch_rig.open(liar) as rig:
            with pytest.raises(ModelFetchError, match="lied"):
                await rig.fetcher.fetch(rig.model)
            assert rig.fetch_store.hashes() == []
            assert not list(rig.fetch_store.directory.iterdir())

    run(main)


def test_a_node_fetches_a_missing_model_from_an_advertising_peer(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    """The node's own wiring: providers come from adverts (PeerView), served by the daemon."""

    async def main() -> None:
        model_hash = bytes.fromhex(ModelStore(tmp_path / "unused").put(mobilenet_int8))
        async with open_node(node_config(tmp_path / "n0", mobilenet_int8)) as n0:
            bare = NodeConfig(data_dir=tmp_path / "n1", listen=LOOPBACK, advert_interval_s=1.0)
            bare = replace(bare, bootstrap=(n0.host.listen_addrs()[0],), advert_ttl_s=20.0)
            async with open_node(bare) as n1:
                assert not n1.store.has(model_hash.hex())
                with trio.fail_after(60):
                    while not any(a.peer_id == n0.peer_id for a in n1.peers.live()):
                        await n1.peers.wait_changed()
                    assert await n1.models.ensure(model_hash)
                no_leftovers(n1.store, model_hash.hex())

    run(main)


def test_a_node_assigned_a_shard_for_a_missing_model_fetches_it_first(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    from PIL import Image

    from p2pfleet.inference.images import sample_photos
    from p2pfleet.submit.client import ClientConfig, open_client
    from p2pfleet.submit.job import JobSpec

    photos = tmp_path / "photos"
    photos.mkdir()
    for name, pixels in sample_photos()[:2]:
        Image.fromarray(pixels).save(photos / f"{name}.png")

    async def main() -> None:
        async with open_node(node_config(tmp_path / "n0", mobilenet_int8)) as n0:
            bare = NodeConfig(data_dir=tmp_path / "n1", listen=LOOPBACK, advert_interval_s=1.0)
            bare = replace(bare, bootstrap=(n0.host.listen_addrs()[0],), advert_ttl_s=20.0)
            async with open_node(bare) as n1:
                config = ClientConfig(
                    data_dir=tmp_path / "submitter", bootstrap=(n0.host.listen_addrs()[0],)
                )
                async with open_client(config) as client:
                    await client.peers.wait_for_peers(2)
                    spec = JobSpec(inputs=str(photos), shard_size=2, replicas=2, max_replicas=2)
                    result = await client.run_job(spec)
                assert n1.models.stats["fetched"] == 1
                # Both computed and agreed; only one of them reveals its output (task.md).
                record = result.records[0]
                assert record.output is not None
                assert set(record.agreeing) == {n0.identity.public_key, n1.identity.public_key}
                assert n0.tasks.completed + n1.tasks.completed == 1

    run(main)


class DhtShim:
    """A real host plus the DHT calls the net layer is adding (provide / find providers)."""

    def __init__(self, host: FleetHost, records: dict[bytes, list[str]]) -> None:
        self._host = host
        self.records = records
        self.provided: list[bytes] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._host, name)

    async def dht_provide(self, key: bytes) -> None:
        self.provided.append(key)

    async def dht_find_providers(self, key: bytes, *, limit: int) -> list[str]:
        return self.records.get(key, [])[:limit]


class NoAdverts:
    def live(self) -> list[object]:
        return []


def test_providers_from_dht_records_and_announce_after_fetch(fetch_rig: ModelFetchRig) -> None:
    from p2pfleet.node.model_service import fleet_providers

    async def main() -> None:
        async with fetch_rig.open(Provider("p")) as rig:
            p, f = rig.hosts[0], rig.fetcher_host
            shim = DhtShim(f, {rig.model: [p.peer_id, p.peer_id, f.peer_id]})
            providers = fleet_providers(NoAdverts(), shim)
            assert await providers(rig.model) == [p.peer_id]  # de-duplicated, never itself
            fetcher = ModelService(rig.fetch_store, shim, providers)
            await fetcher.fetch(rig.model)
            no_leftovers(rig.fetch_store, rig.model_hash)
            assert shim.provided == [rig.model]
            await fetcher.announce_stored()
            assert shim.provided == [rig.model, rig.model]

    run(main)


def test_model_cache_limit_is_a_node_config_key(tmp_path: Path) -> None:
    from p2pfleet.node.config import ConfigError, node_config_from_dict

    config = node_config_from_dict({"node": {"model_cache_bytes": 64 << 20}}, base=tmp_path)
    assert config.model_cache_bytes == 64 << 20
    for bad in (-1, "1 GB", True, 1000):
        with pytest.raises(ConfigError, match="model_cache_bytes"):
            node_config_from_dict({"node": {"model_cache_bytes": bad}}, base=tmp_path)


@pytest.mark.parametrize("prefix", ["garbage", "too-long"])
def test_a_bad_partial_file_from_an_earlier_liar_does_not_blame_the_honest_provider(
    fetch_rig: ModelFetchRig, mobilenet_int8: bytes, prefix: str
) -> None:
    async def main() -> None:
        async with fetch_rig.open(Provider("p", LyingModelService, attrs={"lie": "none"})) as rig:
            size = 300_000 if prefix == "garbage" else len(mobilenet_int8) + 10
            rig.fetch_store.part_path(rig.model_hash).write_bytes(bytes(size))  # left by a liar
            await rig.fetcher.fetch(rig.model)
            no_leftovers(rig.fetch_store, rig.model_hash)
            assert rig.fetcher.stats["restarted"] == 1 and not rig.fetcher.stats["liars"]
            expected = [size, 0] if prefix == "garbage" else [0]  # too long: refused first
            assert rig.providers[0].requested_offsets == expected  # type: ignore[attr-defined]

    run(main)


def test_refusals_are_not_lies_and_garbage_requests_do_not_hurt_the_provider(
    fetch_rig: ModelFetchRig,
) -> None:
    import random

    from p2pfleet.core.model_fetch import Get, Refuse, decode_fetch_message, encode_fetch_message
    from p2pfleet.core.protocol_ids import MODEL_PROTOCOL
    from p2pfleet.net.errors import NetError

    async def main() -> None:
        empty = Provider("empty", stored=False)
        busy = Provider("busy", attrs={"_max_uploads": 0})
        async with fetch_rig.open(empty, busy, Provider("ok")) as rig:
            f, ok = rig.fetcher_host, rig.hosts[2]
            rng = random.Random(4)
            for _ in range(30):  # malformed requests: the provider resets and keeps serving
                stream = await f.open_stream(ok.peer_id, MODEL_PROTOCOL)
                await stream.send(rng.randbytes(rng.randint(1, 64)))
                with pytest.raises(NetError):
                    await stream.receive(max_size=1 << 20)
            stream = await f.open_stream(ok.peer_id, MODEL_PROTOCOL)
            await stream.send(encode_fetch_message(Get(model=bytes(32), offset=0)))
            reply = decode_fetch_message(await stream.receive(max_size=1 << 20))
            assert reply == Refuse(code="not-found", detail="model not stored")
            await stream.close()

            await rig.fetcher.fetch(rig.model)
            no_leftovers(rig.fetch_store, rig.model_hash)
            assert not rig.fetcher.stats["liars"] and not rig.fetcher._liars

    run(main)


def test_a_model_over_the_cache_limit_is_not_blamed_on_the_provider(
    fetch_rig: ModelFetchRig, tmp_path: Path
) -> None:
    async def main() -> None:
        small = ModelStore(tmp_path / "small", max_bytes=1 << 20)
        async with fetch_rig.open(Provider("p"), fetch_store=small) as rig:
            assert not await rig.fetcher.ensure(rig.model)
            assert not rig.fetcher._liars and not list(small.directory.iterdir())

    run(main)
