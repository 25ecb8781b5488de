"""Model transfers count against the owner's cellular data cap (real loopback hosts)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
import trio

from p2pfleet.core.identity import Identity
from p2pfleet.core.policy import OwnerPolicy, cellular_allowance_bytes, transfer_refusal
from p2pfleet.core.task_messages import Accept, Commit, Reject, RejectReason, Result, RevealRequest
from p2pfleet.net.host import HostConfig, open_host
from p2pfleet.node.config import NodeConfig
from p2pfleet.node.daemon import open_node
from p2pfleet.node.data_meter import DataMeter, ModelDataCapError
from p2pfleet.node.ledger import EnergyLedger
from p2pfleet.node.metrics import NodeMetrics
from p2pfleet.node.vehicle import Link, SimulatedVehicle, SimulatedVehicleConfig
from p2pfleet.testing.task_client import one_shard_job, open_task, synthetic_batch
from tests.node.fleet_fixtures import LOOPBACK, node_config
from tests.node.model_fetch_fixtures import ModelFetchRig, Provider, no_leftovers, run

MB = 1_000_000
FRAMING = 4096  # fetch-protocol framing around a model's bytes (have, chunk headers, end)


def test_the_allowance_and_the_transfer_decision() -> None:
    capped = OwnerPolicy(daily_cellular_data_mb=10)
    assert cellular_allowance_bytes(OwnerPolicy(), 123) is None
    assert cellular_allowance_bytes(capped, 4 * MB) == 6 * MB
    assert cellular_allowance_bytes(capped, 12 * MB) == 0
    fits = {"on_cellular": True, "cellular_bytes_today": 4 * MB}
    assert transfer_refusal(capped, transfer_bytes=6 * MB, **fits) is None  # type: ignore[arg-type]
    why = transfer_refusal(capped, transfer_bytes=6 * MB + 1, **fits)  # type: ignore[arg-type]
    assert why is not None and "6.0 MB of 10 MB left today" in why
    wifi = {"on_cellular": False, "cellular_bytes_today": 40 * MB}
    assert transfer_refusal(capped, transfer_bytes=MB, **wifi) is None  # type: ignore[arg-type]


def test_the_ledger_counts_model_transfers_in_the_cellular_total(tmp_path: Path) -> None:
    ledger = EnergyLedger(tmp_path / "ledger.sqlite3", tier_watts=100)
    ledger.record(
        job_id="j",
        shard=0,
        started_at=1000.0,
        runtime_ms=10,
        input_bytes=300,
        output_bytes=100,
        outcome="completed",
        cellular=True,
    )
    ledger.record_model_transfer(
        model="ab", direction="download", nbytes=5000, cellular=True, at=1001
    )
    ledger.record_model_transfer(
        model="ab", direction="upload", nbytes=7000, cellular=False, at=1002
    )
    ledger.record_model_transfer(model="ab", direction="upload", nbytes=9, cellular=True, at=10.0)
    today = ledger.today(day_start=1000.0)
    assert today.data_bytes == 400 and today.model_bytes == 12000
    assert today.model_cellular_bytes == 5000 and today.cellular_bytes == 5400
    totals = ledger.totals()
    assert totals.cellular_bytes == 400  # task bytes; model bytes are itemised below
    assert totals.model_transfers == {
        ("download", "cellular"): 5000,
        ("upload", "other"): 7000,
        ("upload", "cellular"): 9,
    }
    with pytest.raises(ValueError, match="direction"):
        ledger.record_model_transfer(model="ab", direction="sideways", nbytes=1, cellular=False)
    ledger.close()


def meter(tmp_path: Path, name: str, *, cap_mb: int | None, cellular: bool) -> DataMeter:
    ledger = EnergyLedger(tmp_path / f"{name}.sqlite3", tier_watts=100)
    policy = OwnerPolicy(daily_cellular_data_mb=cap_mb)
    return DataMeter(ledger, policy, lambda: cellular)


def model_rows(m: DataMeter) -> dict[tuple[str, str], int]:
    return m._ledger.totals().model_transfers


def test_a_fetch_on_cellular_within_the_cap_is_counted_on_both_sides(
    fetch_rig: ModelFetchRig, tmp_path: Path, mobilenet_int8: bytes
) -> None:
    size = len(mobilenet_int8)
    fetcher = meter(tmp_path, "fetcher", cap_mb=size // MB + 2, cellular=True)
    provider = meter(tmp_path, "provider", cap_mb=0, cellular=False)  # on Wi-Fi: no limit

    async def main() -> None:
        async with fetch_rig.open(Provider("p", meter=provider), fetcher_meter=fetcher) as rig:
            await rig.fetcher.fetch(rig.model)
            no_leftovers(rig.fetch_store, rig.model_hash)

    run(main)
    downloaded = model_rows(fetcher)[("download", "cellular")]
    assert size <= downloaded <= size + FRAMING
    assert fetcher._ledger.today(0).cellular_bytes == downloaded
    assert size <= model_rows(provider)[("upload", "other")] <= size + FRAMING


def test_a_fetch_over_the_remaining_allowance_is_refused_before_any_chunk(
    fetch_rig: ModelFetchRig, tmp_path: Path
) -> None:
    fetcher = meter(tmp_path, "fetcher", cap_mb=1, cellular=True)  # the model is ~3.5 MB

    async def main() -> None:
        async with fetch_rig.open(Provider("p"), fetcher_meter=fetcher) as rig:
            with pytest.raises(ModelDataCapError, match="exceed the owner's daily cap"):
                await rig.fetcher.fetch(rig.model)
            with pytest.raises(ModelDataCapError):  # ensure passes it on to the task server
                await rig.fetcher.ensure(rig.model)
            assert rig.fetch_store.hashes() == []
            assert not rig.fetch_store.part_path(rig.model_hash).exists()
            assert not rig.fetcher._liars  # our cap, not the provider's fault

    run(main)
    assert model_rows(fetcher).get(("download", "cellular"), 0) < FRAMING  # the `have` only


def test_on_wifi_the_cap_does_not_apply_and_nothing_counts_as_cellular(
    fetch_rig: ModelFetchRig, tmp_path: Path, mobilenet_int8: bytes
) -> None:
    fetcher = meter(tmp_path, "fetcher", cap_mb=0, cellular=False)

    async def main() -> None:
        async with fetch_rig.open(Provider("p"), fetcher_meter=fetcher) as rig:
            await rig.fetcher.fetch(rig.model)

    run(main)
    assert set(model_rows(fetcher)) == {("download", "other")}
    assert fetcher._ledger.today(0).cellular_bytes == 0


def test_a_provider_on_cellular_at_its_cap_stops_serving_and_the_next_one_serves(
    fetch_rig: ModelFetchRig, tmp_path: Path
) -> None:
    capped = meter(tmp_path, "capped", cap_mb=1, cellular=True)

    async def main() -> None:
        providers = (Provider("capped", meter=capped), Provider("wifi"))
        async with fetch_rig.open(*providers) as rig:
            await rig.fetcher.fetch(rig.model)
            no_leftovers(rig.fetch_store, rig.model_hash)
            assert rig.providers[0].stats["refused-data-cap"] == 1
            assert rig.providers[0].stats["uploads"] == 0 and rig.providers[1].stats["uploads"] == 1
            assert not rig.fetcher._liars  # a refusal is not a lie

    run(main)
    assert model_rows(capped) == {}


def test_a_capped_node_on_cellular_refuses_the_shard_then_fetches_on_wifi(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    """The submitter sees a normal data-cap refusal; status and /metrics show model bytes."""
    submitter = Identity(bytes(range(5, 37)))
    batch = synthetic_batch(1)
    model = hashlib.sha256(mobilenet_int8).digest()
    size = len(mobilenet_int8)
    car = SimulatedVehicle(SimulatedVehicleConfig(link=Link.CELLULAR))

    async def assign(client: object, peer_id: str) -> object:
        signed = one_shard_job(submitter, model, batch, items=1)
        session = await open_task(client, peer_id, signed, batch)  # type: ignore[arg-type]
        decision = await session.receive()
        if isinstance(decision, Accept):
            assert isinstance(await session.receive(), Commit)
            await session.send(RevealRequest())
            assert isinstance(await session.receive(), Result)
        return decision

    async def main() -> None:
        async with open_node(node_config(tmp_path / "provider", mobilenet_int8)) as provider:
            bare = NodeConfig(
                data_dir=tmp_path / "car",
                listen=LOOPBACK,
                bootstrap=(provider.host.listen_addrs()[0],),
                advert_interval_s=1.0,
                advert_ttl_s=20.0,
                policy=OwnerPolicy(daily_cellular_data_mb=size // MB),  # just too small
            )
            client_config = HostConfig(seed=submitter.seed, listen_addrs=LOOPBACK)
            async with open_node(bare, vehicle=car) as node, open_host(client_config) as client:
                await client.connect(node.host.listen_addrs()[0])
                with trio.fail_after(60):
                    while not any(a.peer_id == provider.peer_id for a in node.peers.live()):
                        await node.peers.wait_changed()
                    refused = await assign(client, node.peer_id)
                assert isinstance(refused, Reject) and refused.reason is RejectReason.DATA_CAP
                assert "exceed the owner's daily cap" in refused.detail
                assert not node.store.has(model.hex()) and node.status().model_mb_today < 0.01
                assert node.status().refusal is None  # the cap itself is not reached

                car.set_link(Link.WIFI)
                with trio.fail_after(300):
                    accepted = await assign(client, node.peer_id)
                assert isinstance(accepted, Accept) and node.store.has(model.hex())
                status = node.status()
                assert size / MB <= status.model_mb_today <= (size + FRAMING) / MB + 0.001
                assert status.cellular_mb_today < 0.01  # the model came over Wi-Fi
                page = NodeMetrics(node).page()[2].decode()
                assert (
                    'p2pfleet_node_model_transfer_bytes_total{direction="download",link="other"}'
                    in page
                )
                served = provider.status().model_mb_today
                assert size / MB <= served <= (size + FRAMING) / MB + 0.001

    run(main)


def test_model_downloads_over_cellular_trip_the_data_cap_latch(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    """Once model bytes use up the allowance, the node refuses work on cellular (policy latch)."""
    size = len(mobilenet_int8)
    car = SimulatedVehicle(SimulatedVehicleConfig(link=Link.CELLULAR))
    cap_mb = 10

    async def main() -> None:
        async with open_node(node_config(tmp_path / "provider", mobilenet_int8)) as provider:
            config = NodeConfig(
                data_dir=tmp_path / "car",
                listen=LOOPBACK,
                bootstrap=(provider.host.listen_addrs()[0],),
                advert_interval_s=1.0,
                advert_ttl_s=20.0,
                policy=OwnerPolicy(daily_cellular_data_mb=cap_mb),
            )
            async with open_node(config, vehicle=car) as node:
                # Earlier task traffic leaves room for the model's bytes, not for its framing.
                node.ledger.record(
                    job_id="earlier",
                    shard=0,
                    started_at=time.time(),
                    runtime_ms=1,
                    input_bytes=cap_mb * MB - size - 16,
                    output_bytes=0,
                    outcome="completed",
                    cellular=True,
                )
                with trio.fail_after(60):
                    while not any(a.peer_id == provider.peer_id for a in node.peers.live()):
                        await node.peers.wait_changed()
                assert node.status().refusal is None
                with trio.fail_after(300):
                    assert await node.models.ensure(hashlib.sha256(mobilenet_int8).digest())
                status = node.status()
                assert status.cellular_mb_today >= cap_mb and status.refusal == "data-cap"
                car.set_link(Link.WIFI)
                assert node.status().refusal is None  # the cap binds on cellular only

    run(main)
