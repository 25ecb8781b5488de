"""A lazy node that copies other nodes' answers is defeated by commit-then-reveal.

The lazy node never computes: it waits for an output to be revealed anywhere
(here: a board the test fills with every output the submitter accepts, as if
revealed outputs were public) and commits a copy. Because no output is
revealed before every replica of the shard has committed, it never finds one
in time, commits a guess, and is caught.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import trio

from p2pfleet.submit.client import open_client
from p2pfleet.submit.coordinator import ShardRecord
from p2pfleet.submit.job import JobSpec
from p2pfleet.testing.faults import LazyCopyExecutor, RevealBoard
from tests.node.fleet_fixtures import open_fleet

from .helpers import QUIET, client_config, honest_hashes, share_cpu, write_photos


def test_a_lazy_copier_never_gets_an_answer_to_copy(tmp_path: Path, mobilenet_int8: bytes) -> None:
    photos = write_photos(tmp_path / "photos", ("coffee", "chelsea", "rocket", "clock"))
    board = RevealBoard()

    async def main() -> None:
        async with open_fleet(tmp_path / "fleet", mobilenet_int8, 3, **QUIET) as nodes:
            share_cpu(nodes)
            lazy = nodes[2]
            lazy.tasks._executor = LazyCopyExecutor(board, patience_s=5.0)

            def publish(record: ShardRecord) -> None:  # a revealed output becomes public
                assert record.output is not None
                board.post(record.shard.input_bytes, record.output)

            async with open_client(client_config(tmp_path, nodes)) as client:
                with trio.fail_after(60):
                    await client.wait_for_nodes(3)
                spec = JobSpec(
                    inputs=str(photos), shard_size=1, replicas=2, max_replicas=3, max_node_share=1.0
                )
                with trio.fail_after(600):
                    result = await client.run_job(spec, on_shard=publish)
        lazy_key = lazy.identity.public_key
        expected = honest_hashes(mobilenet_int8, result)
        assert {
            i: hashlib.sha256(o).digest() for i, o in result.outcome.outputs.items()
        } == expected
        joined = [
            r for r in result.records if any(
                rep.node_key == lazy_key and rep.commit is not None for rep in r.replicas
            )
        ]  # fmt: skip
        assert joined, "the lazy node took part"
        assert board.copied == 0 and board.guessed >= 1
        for record in joined:
            assert lazy_key not in record.agreeing
        assert result.outcome.caught[lazy_key] >= 1

    trio.run(main)
