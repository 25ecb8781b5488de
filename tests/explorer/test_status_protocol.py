"""`/p2pfleet/status/0.1.0` between real py-libp2p hosts on 127.0.0.1."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from p2pfleet.core.advert import VehicleState
from p2pfleet.core.errors import SignatureError, StaleMessageError
from p2pfleet.core.identity import Identity
from p2pfleet.core.status import STATUS_PROTOCOL, NodeStatusReport, StatusRequest, sign_status
from p2pfleet.net.errors import NetError
from p2pfleet.net.host import FleetHost, HostConfig, open_host
from p2pfleet.net.streams import FramedStream
from p2pfleet.node.config import NodeConfig
from p2pfleet.node.daemon import Node, open_node
from p2pfleet.node.public_status import fetch_status, recent_jobs

LOOPBACK = ("/ip4/127.0.0.1/tcp/0",)


@asynccontextmanager
async def two_nodes_and_a_client(base: Path) -> AsyncIterator[tuple[Node, Node, FleetHost]]:
    first = NodeConfig(data_dir=base / "a", listen=LOOPBACK, region="berlin")
    async with open_node(first) as a:
        second = NodeConfig(
            data_dir=base / "b",
            listen=LOOPBACK,
            region="berlin",
            bootstrap=(a.host.listen_addrs()[0],),
        )
        async with open_node(second) as b:
            client = HostConfig(
                seed=secrets.token_bytes(32),
                listen_addrs=LOOPBACK,
                bootstrap=(a.host.listen_addrs()[0],),
            )
            async with open_host(client) as host:
                yield a, b, host


def test_a_node_reports_its_connections_state_and_jobs(tmp_path: Path) -> None:
    async def main() -> None:
        async with two_nodes_and_a_client(tmp_path) as (a, b, client):
            with trio.fail_after(30):
                signed = await fetch_status(client, a.peer_id)
            report = signed.report
            assert signed.peer_id == a.peer_id
            assert {b.peer_id, client.peer_id} <= set(report.peers)
            assert report.peer_count == len(report.peers)
            assert (report.region, report.state, report.jobs) == ("berlin", VehicleState.PARKED, ())

            job = bytes([7]) * 32
            for shard, outcome in [(0, "completed"), (1, "abandoned"), (2, "completed")]:
                a.ledger.record(
                    job_id=job.hex(),
                    shard=shard,
                    started_at=time.time(),
                    runtime_ms=10,
                    input_bytes=1,
                    output_bytes=1,
                    outcome=outcome,
                )
            a.vehicle.set_state(VehicleState.DRIVING)
            with trio.fail_after(30):
                report = (await fetch_status(client, a.peer_id)).report
            assert report.state is VehicleState.DRIVING
            assert [(j.job_id, j.shards_done, j.shards_assigned) for j in report.jobs] == [
                (job, 2, 3)
            ]

    trio.run(main)


def test_a_malformed_request_resets_the_stream_and_the_node_keeps_serving(tmp_path: Path) -> None:
    async def main() -> None:
        async with two_nodes_and_a_client(tmp_path) as (a, _, client):
            with trio.fail_after(30):
                stream = await client.open_stream(a.peer_id, STATUS_PROTOCOL)
                await stream.send(b"\xc1 not msgpack")
                with pytest.raises(NetError):
                    await stream.receive(max_size=8192)
                stream = await client.open_stream(a.peer_id, STATUS_PROTOCOL)
                await stream.send(b"x" * 100)  # longer than a request may be
                with pytest.raises(NetError):
                    await stream.receive(max_size=8192)
                assert (await fetch_status(client, a.peer_id)).peer_id == a.peer_id

    trio.run(main)


@pytest.mark.parametrize("lie", ["other-nonce", "other-signer"])
def test_the_requester_refuses_replayed_or_foreign_answers(lie: str) -> None:
    async def answer(stream: FramedStream, identity: Identity) -> None:
        request = StatusRequest.from_bytes(await stream.receive(max_size=64))
        nonce = bytes(16) if lie == "other-nonce" else request.nonce
        signer = identity if lie == "other-nonce" else Identity(bytes([3]) * 32)
        report = NodeStatusReport(
            nonce=nonce,
            issued_at_ms=1,
            region="x",
            state=VehicleState.PARKED,
            peer_count=0,
            peers=(),
            jobs=(),
        )
        await stream.send(sign_status(signer, report).wire)
        await stream.close()

    async def main() -> None:
        seed = secrets.token_bytes(32)
        liar = HostConfig(seed=seed, listen_addrs=LOOPBACK)
        async with open_host(liar) as liar_host:

            async def handler(stream: FramedStream) -> None:
                await answer(stream, Identity(seed))

            liar_host.set_handler(STATUS_PROTOCOL, handler)
            asker = HostConfig(
                seed=secrets.token_bytes(32),
                listen_addrs=LOOPBACK,
                bootstrap=(liar_host.listen_addrs()[0],),
            )
            async with open_host(asker) as host:
                expected = StaleMessageError if lie == "other-nonce" else SignatureError
                with trio.fail_after(30), pytest.raises(expected):
                    await fetch_status(host, liar_host.peer_id)

    trio.run(main)


def test_recent_jobs_without_a_ledger_is_empty(tmp_path: Path) -> None:
    assert recent_jobs(tmp_path / "missing.sqlite3") == []


def test_a_silent_requester_is_reset_after_the_request_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from p2pfleet.node import public_status

    monkeypatch.setattr(public_status, "REQUEST_TIMEOUT_S", 0.5)

    async def main() -> None:
        async with two_nodes_and_a_client(tmp_path) as (a, _, client):
            with trio.fail_after(30):
                stream = await client.open_stream(a.peer_id, STATUS_PROTOCOL)
                with pytest.raises(NetError):  # we never send: the node gives up and resets
                    await stream.receive(max_size=8192)
                assert (await fetch_status(client, a.peer_id)).peer_id == a.peer_id

    trio.run(main)
