"""The adaptive policy: trusted nodes run alone, canaries and checks catch a trusted liar,
and its unchecked results are redone, so no wrong output survives."""

from __future__ import annotations

import hashlib
from pathlib import Path

import trio

from p2pfleet.core.reputation import NodeStanding
from p2pfleet.inference.images import sample_photos
from p2pfleet.submit.client import open_client
from p2pfleet.submit.job import JobSpec
from p2pfleet.submit.journal import Journal
from p2pfleet.testing.faults import WrongOutputExecutor
from tests.node.fleet_fixtures import open_fleet

from .helpers import QUIET, EventLog, client_config, honest_hashes, share_cpu, write_photos


def test_a_trusted_liar_is_caught_and_its_unchecked_results_redone(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    photos = write_photos(tmp_path / "photos", tuple(name for name, _ in sample_photos()))

    async def main() -> None:
        async with open_fleet(tmp_path / "fleet", mobilenet_int8, 3, **QUIET) as nodes:
            share_cpu(nodes)
            liar = nodes[2]
            liar.tasks._executor = WrongOutputExecutor(liar.tasks._executor)
            config = client_config(tmp_path, nodes)
            seeded = Journal(config.journal_path)  # every node has a long clean record
            for node in nodes:
                record = NodeStanding(valid_streak=100, valid_total=100)
                seeded.save_standing(node.identity.public_key, record)
            seeded.close()
            async with open_client(config) as client:
                with trio.fail_after(60):
                    await client.wait_for_nodes(3)
                spec = JobSpec(
                    inputs=str(photos),
                    shard_size=1,
                    policy="adaptive",
                    replicas=2,
                    max_replicas=3,
                    trust_after=4,
                    trust_cap=4,  # trusted shards are checked 1 time in 4
                    canary_rate=1.0,  # one hidden canary per real shard
                    max_node_share=1.0,
                )
                events = EventLog()
                with trio.fail_after(900):
                    result = await client.run_job(spec, on_event=events)
                liar_standing = client.journal.standing(liar.identity.public_key)
        expected = honest_hashes(mobilenet_int8, result)
        outputs = {i: hashlib.sha256(o).digest() for i, o in result.outcome.outputs.items()}
        assert outputs == expected  # every wrong unchecked result was redone
        assert len(outputs) == 16 and sum(s.canary for s in result.plan.shards) == 16
        assert liar.identity.public_key in result.outcome.caught
        assert liar_standing.valid_streak == 0 and liar_standing.invalid_total >= 1
        verified = [e for e in events if e.kind.value == "verified"]
        assert any(e.detail == "trusted" for e in verified), "some shards ran unchecked"
        print(
            f"\nadaptive: {len(verified)} verifications, "
            f"{sum(e.detail == 'trusted' for e in verified)} unchecked, "
            f"{events.kinds().count('redo')} redone, canaries passed "
            f"{result.outcome.canaries_passed}/16"
        )

    trio.run(main)
