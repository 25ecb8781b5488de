"""Three real nodes and a submitter in one process: gossip an advert, verify a shard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trio
from PIL import Image

from p2pfleet.inference.images import sample_photos
from p2pfleet.inference.runtime import load_model
from p2pfleet.inference.tensors import decode_tensor
from p2pfleet.submit.client import ClientConfig, open_client
from p2pfleet.submit.job import JobSpec
from p2pfleet.testing.faults import WrongOutputExecutor
from tests.node.fleet_fixtures import open_fleet


def write_photos(directory: Path) -> None:
    directory.mkdir()
    for name, pixels in sample_photos():
        if name in ("coffee", "chelsea"):
            Image.fromarray(pixels).save(directory / f"{name}.png")


def test_three_nodes_gossip_adverts_and_verify_a_shard(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    write_photos(tmp_path / "photos")

    async def main() -> None:
        async with open_fleet(tmp_path / "fleet", mobilenet_int8, 3) as nodes:
            config = ClientConfig(
                data_dir=tmp_path / "submitter", bootstrap=(nodes[0].host.listen_addrs()[0],)
            )
            async with open_client(config) as client:
                with trio.fail_after(30):
                    adverts = await client.peers.wait_for_peers(3)
                assert {a.peer_id for a in adverts} == {n.peer_id for n in nodes}
                spec = JobSpec(
                    inputs=str(tmp_path / "photos"), shard_size=2, replicas=2, max_replicas=3
                )
                with trio.fail_after(120):
                    result = await client.run_job(spec)
        assert len(result.records) == 1
        record = result.records[0]
        assert record.output is not None and len(record.agreeing) == 2 and not record.dissenting
        ranked = load_model(mobilenet_int8).top_k(
            decode_tensor(record.output, max_bytes=1 << 20), 1
        )
        top1 = {name: labels[0][0] for name, labels in zip(record.shard.names, ranked, strict=True)}
        assert top1["coffee.png"] in ("espresso", "cup", "coffee mug")
        assert "cat" in top1["chelsea.png"]
        # commit-then-reveal: both replicas committed, exactly one uploaded its output
        assert sum(n.tasks.completed for n in nodes) == 1

    trio.run(main)


def test_a_lying_node_is_outvoted_and_named(tmp_path: Path, mobilenet_int8: bytes) -> None:
    write_photos(tmp_path / "photos")

    async def main() -> None:
        async with open_fleet(tmp_path / "fleet", mobilenet_int8, 3) as nodes:
            liar = nodes[2]
            liar.tasks._executor = WrongOutputExecutor(liar.tasks._executor)
            config = ClientConfig(
                data_dir=tmp_path / "submitter", bootstrap=(nodes[0].host.listen_addrs()[0],)
            )
            async with open_client(config) as client:
                with trio.fail_after(30):
                    await client.peers.wait_for_peers(3)
                spec = JobSpec(
                    inputs=str(tmp_path / "photos"), shard_size=1, replicas=2, max_replicas=3
                )
                with trio.fail_after(180):
                    result = await client.run_job(spec)
        for record in result.records:
            assert record.output is not None
            assert liar.identity.public_key not in record.agreeing
        # With 3 nodes and k=2, every shard the liar joined was disputed, settled and named it.
        joined = [
            r
            for r in result.records
            if any(rep.node_key == liar.identity.public_key for rep in r.replicas)
        ]
        for record in joined:
            assert liar.identity.public_key in record.dissenting
        outputs = [decode_tensor(r.output or b"", max_bytes=1 << 20) for r in result.records]
        assert all(o.shape == (1, 1000) and o.dtype == np.int32 for o in outputs)

    trio.run(main)
