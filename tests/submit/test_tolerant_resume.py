"""A tolerant-tier job interrupted mid-way resumes from the journal: verified outputs kept."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import trio

from p2pfleet.inference.compare import comparator_for
from p2pfleet.inference.engine import load_runner
from p2pfleet.submit.client import open_client
from p2pfleet.submit.coordinator import ShardRecord
from p2pfleet.submit.job import SAMPLE_SENTENCES, JobSpec
from p2pfleet.submit.journal import ShardStatus
from p2pfleet.testing.faults import FLOAT_NOISE_SCALE, PerturbedOutputExecutor, SlowExecutor
from tests.node.fleet_fixtures import open_fleet

from .helpers import QUIET, client_config, share_cpu


def test_an_interrupted_minilm_job_resumes_without_redoing_verified_shards(
    tmp_path: Path, minilm_model: bytes
) -> None:
    spec = JobSpec(
        model="minilm-l6-embed",
        inputs=SAMPLE_SENTENCES,
        shard_size=4,
        replicas=2,
        max_replicas=3,
        max_node_share=1.0,
        output_dir=tmp_path / "out",
    )

    async def main() -> None:
        async with open_fleet(tmp_path / "fleet", minilm_model, 3, **QUIET) as nodes:
            share_cpu(nodes)
            for node in nodes:
                noisy = PerturbedOutputExecutor(
                    node.tasks._executor, scale=FLOAT_NOISE_SCALE, seed_by_input=False
                )
                node.tasks._executor = SlowExecutor(noisy, 0.5)
            config = client_config(tmp_path, nodes)
            verified: list[ShardRecord] = []
            enough = trio.Event()

            def on_shard(record: ShardRecord) -> None:
                verified.append(record)
                if len(verified) >= 2:
                    enough.set()

            async with open_client(config) as client:
                with trio.fail_after(60):
                    await client.wait_for_nodes(3)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(lambda: client.run_job(spec, on_shard=on_shard))
                    with trio.fail_after(600):
                        await enough.wait()
                    nursery.cancel_scope.cancel()  # the submitter stops mid-job
            interrupted_at = time.time()
            with sqlite3.connect(config.journal_path) as db:
                job_id = db.execute("SELECT job_id FROM jobs").fetchone()[0]
                before = dict(
                    db.execute(
                        "SELECT idx, output FROM shards WHERE status = ?", (ShardStatus.VERIFIED,)
                    ).fetchall()
                )
            assert 2 <= len(before) < 6, "the interruption landed mid-job"

            async with open_client(config) as client:
                with trio.fail_after(60):
                    await client.wait_for_nodes(3)
                with trio.fail_after(600):
                    result = await client.resume_job(job_id)
            with sqlite3.connect(config.journal_path) as db:
                redone = {
                    row[0]
                    for row in db.execute(
                        "SELECT DISTINCT idx FROM assignments WHERE placed_at > ?",
                        (interrupted_at,),
                    )
                }

        assert result.outcome.resumed == len(before)
        assert not redone & set(before), "a verified shard ran again"
        for index, output in before.items():
            assert result.outcome.outputs[index] == output  # the journal's bytes, unchanged
        runner, agree = load_runner(minilm_model), comparator_for("embeddings")
        assert len(result.outcome.outputs) == len(result.plan.real_shards) == 6
        for shard in result.plan.real_shards:
            assert agree(result.outcome.outputs[shard.index], runner.run_bytes(shard.input_bytes))

    trio.run(main)
