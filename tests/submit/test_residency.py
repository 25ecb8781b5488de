"""Data residency: shards stay in allowed regions; nodes outside refuse; attested regions."""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path

import trio

from p2pfleet.core.compress import compress
from p2pfleet.core.identity import Identity
from p2pfleet.core.limits import MAX_TASK_FRAME
from p2pfleet.core.protocol_ids import TASK_PROTOCOL
from p2pfleet.core.region_cert import RegionCert, issue_region_cert
from p2pfleet.core.task_messages import Assign, Reject, RejectReason
from p2pfleet.core.tasks import Role, TaskConversation
from p2pfleet.keys import load_or_create_key_file
from p2pfleet.node.daemon import Node, open_node
from p2pfleet.submit.client import open_client
from p2pfleet.submit.job import JobSpec
from tests.node.fleet_fixtures import node_config

from .helpers import client_config, write_photos

AUTHORITY = Identity(b"\x42" * 32)
ROGUE = Identity(b"\x43" * 32)


def certificate(directory: Path, region: str, signer: Identity, valid_for_s: int) -> bytes:
    node_key = load_or_create_key_file(directory / "node.key").public_key
    now = int(time.time())
    body = RegionCert(
        node_key=node_key,
        region=region,
        not_before_s=now - 3600,
        not_after_s=now + valid_for_s if valid_for_s > 0 else now - 1,
    )
    return issue_region_cert(signer, body).wire


async def start_nodes(
    stack: AsyncExitStack, base: Path, model: bytes, plan: list[tuple[str, str]]
) -> list[Node]:
    """plan: (region, certificate kind: none / valid / expired / forged) per node."""
    nodes: list[Node] = []
    for index, (region, kind) in enumerate(plan):
        directory = base / f"n{index}"
        cert = None
        if kind != "none":
            signer = ROGUE if kind == "forged" else AUTHORITY
            cert = certificate(directory, region, signer, -1 if kind == "expired" else 3600)
        # gossip topics are per region: bootstrap to the fleet and to the region's first node
        firsts = [n for n in nodes[:1]] + [n for n in nodes if n.config.region == region][:1]
        bootstrap = tuple(dict.fromkeys(n.host.listen_addrs()[0] for n in firsts))
        # Our node refuses to start with an expired certificate: model one that skips the check.
        own = None if kind == "expired" else cert
        config = node_config(directory, model, region=region, bootstrap=bootstrap, region_cert=own)
        nodes.append(await stack.enter_async_context(open_node(config)))
        nodes[-1].config = replace(config, region_cert=cert)
    return nodes


def test_shards_stay_in_allowed_regions_and_outsiders_refuse(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    photos = write_photos(tmp_path / "photos", ("coffee", "chelsea", "rocket"))
    plan = [("eu", "none"), ("eu", "none"), ("eu", "none"), ("us", "none"), ("us", "none")]

    async def main() -> None:
        async with AsyncExitStack() as stack:
            nodes = await start_nodes(stack, tmp_path / "fleet", mobilenet_int8, plan)
            us_keys = {n.identity.public_key for n in nodes[3:]}
            bootstrap = (nodes[0].host.listen_addrs()[0], nodes[3].host.listen_addrs()[0])
            config = client_config(tmp_path, nodes, regions=("eu", "us"), bootstrap=bootstrap)
            async with open_client(config) as client:
                with trio.fail_after(60):
                    await client.wait_for_nodes(5)
                spec = JobSpec(
                    inputs=str(photos), shard_size=1, replicas=2, max_replicas=3, regions=("eu",)
                )
                with trio.fail_after(300):
                    result = await client.run_job(spec)
                placed = {rep.node_key for r in result.records for rep in r.replicas}
                assert placed and not placed & us_keys
                assert len(result.outcome.outputs) == 3
                # A node outside the allowed regions refuses even if asked directly.
                stream = await client.host.open_stream(nodes[3].peer_id, TASK_PROTOCOL)
                conversation = TaskConversation(Role.SUBMITTER)
                shard = result.plan.shards[0]
                await stream.send(
                    conversation.send(
                        Assign(
                            manifest_wire=result.plan.manifest.wire,
                            shard=0,
                            input_zstd=compress(shard.input_bytes),
                        )
                    )
                )
                with trio.fail_after(30):
                    answer = conversation.receive(await stream.receive(max_size=MAX_TASK_FRAME))
                assert isinstance(answer, Reject)
                assert answer.reason is RejectReason.REGION_NOT_ALLOWED

    trio.run(main)


def test_attested_only_uses_certified_nodes_and_refuses_expired_or_forged(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    photos = write_photos(tmp_path / "photos", ("coffee", "chelsea"))
    plan = [
        ("eu", "valid"),
        ("eu", "valid"),
        ("eu", "expired"),
        ("eu", "forged"),
        ("eu", "none"),
    ]

    async def main() -> None:
        async with AsyncExitStack() as stack:
            nodes = await start_nodes(stack, tmp_path / "fleet", mobilenet_int8, plan)
            certified = {n.identity.public_key for n in nodes[:2]}
            config = client_config(
                tmp_path, nodes, regions=("eu",), trusted_authorities=(AUTHORITY.public_key,)
            )
            async with open_client(config) as client:
                with trio.fail_after(60):
                    await client.wait_for_nodes(5)
                spec = JobSpec(
                    inputs=str(photos),
                    shard_size=1,
                    replicas=2,
                    max_replicas=2,
                    regions=("eu",),
                    attested_only=True,
                )
                with trio.fail_after(300):
                    result = await client.run_job(spec)
        placed = {rep.node_key for r in result.records for rep in r.replicas}
        assert placed == certified
        assert len(result.outcome.outputs) == 2

    trio.run(main)


def test_a_node_refuses_to_start_with_a_malformed_certificate(tmp_path: Path) -> None:
    import pytest

    from p2pfleet.node.config import ConfigError, load_region_cert_file

    bad = tmp_path / "cert.hex"
    bad.write_text("00ff")
    with pytest.raises(ConfigError, match="not a region certificate"):
        load_region_cert_file(bad)
    good = tmp_path / "good.hex"
    body = RegionCert(node_key=AUTHORITY.public_key, region="eu", not_before_s=1, not_after_s=2)
    good.write_text(issue_region_cert(AUTHORITY, body).wire.hex())
    assert load_region_cert_file(good) == issue_region_cert(AUTHORITY, body).wire
