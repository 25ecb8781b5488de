"""20% colluding wrong-answer nodes: the default policy accepts no wrong shard, names them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import trio

from p2pfleet.submit.client import open_client
from p2pfleet.submit.job import JobSpec
from p2pfleet.testing.faults import WrongOutputExecutor
from tests.node.fleet_fixtures import open_fleet

from .helpers import QUIET, EventLog, client_config, honest_hashes, share_cpu, write_photos


def test_colluding_liars_are_outvoted_and_identified(tmp_path: Path, mobilenet_int8: bytes) -> None:
    photos = write_photos(tmp_path / "photos", ("coffee", "chelsea", "rocket"))

    async def main() -> None:
        async with open_fleet(tmp_path / "fleet", mobilenet_int8, 10, **QUIET) as nodes:
            share_cpu(nodes)
            liars = nodes[3:5]  # 2 of 10 = 20%, and they agree with each other
            for liar in liars:
                liar.tasks._executor = WrongOutputExecutor(liar.tasks._executor)
            async with open_client(client_config(tmp_path, nodes)) as client:
                with trio.fail_after(60):
                    await client.wait_for_nodes(10)
                spec = JobSpec(inputs=str(photos), shard_size=1)  # the default policy: k = 6
                assert (spec.policy, spec.replicas) == ("exact-unanimous", 6)
                events = EventLog()
                with trio.fail_after(600):
                    result = await client.run_job(spec, on_event=events)
                standings = {
                    n.identity.public_key: client.journal.standing(n.identity.public_key)
                    for n in nodes
                }
        liar_keys = {liar.identity.public_key for liar in liars}
        expected = honest_hashes(mobilenet_int8, result)
        assert len(result.outcome.outputs) == 3
        wrong = [
            i
            for i, out in result.outcome.outputs.items()
            if hashlib.sha256(out).digest() != expected[i]
        ]
        assert wrong == []  # zero wrong shards accepted
        settled = set(result.outcome.recomputed)
        for record in result.records:
            assert not liar_keys & set(record.agreeing)
            if record.shard.index not in settled:
                assert len(record.agreeing) >= 6  # a unanimous vote of k = 6
        # every liar that took part was caught, and nobody honest was
        voted = {
            rep.node_key for r in result.records for rep in r.replicas if rep.commit is not None
        }
        assert set(result.outcome.caught) == liar_keys & voted and liar_keys & voted
        assert "caught" in events.kinds() and "disputed" in events.kinds()
        for key, standing in standings.items():
            assert (standing.invalid_total >= 1) == (key in liar_keys & voted)
        print(
            f"\nbyzantine: 3 shards, 10 nodes, 2 colluding liars; wrong accepted: {len(wrong)}; "
            f"caught: {len(result.outcome.caught)}; settled locally: {len(settled)}; "
            f"replica runs: {sum(1 for r in result.records for rep in r.replicas if rep.commit)}"
        )

    trio.run(main)
