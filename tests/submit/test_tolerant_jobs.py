"""Tolerant-tier jobs on real loopback nodes: float replicas agree by comparator, not hash.

Every honest node here adds noise of the size another CPU family's float
kernels produce (1e-6 of the row's largest value), so no two replicas commit
the same hash: a job verifies only if the submitter compares revealed
outputs. A liar perturbs its outputs far beyond the comparator's threshold.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import trio

from p2pfleet.core.manifest import TOLERANT_POLICY
from p2pfleet.inference.compare import comparator_for
from p2pfleet.inference.engine import load_runner
from p2pfleet.inference.texts import sample_sentences
from p2pfleet.node.daemon import Node
from p2pfleet.submit.client import JobResult, open_client
from p2pfleet.submit.job import SAMPLE_SENTENCES, JobSpec
from p2pfleet.testing.faults import FLOAT_NOISE_SCALE, PerturbedOutputExecutor
from tests.node.fleet_fixtures import open_fleet

from .helpers import QUIET, EventLog, client_config, share_cpu, write_photos


def add_float_noise(nodes: list[Node]) -> None:
    for node in nodes:
        node.tasks._executor = PerturbedOutputExecutor(
            node.tasks._executor, scale=FLOAT_NOISE_SCALE, seed_by_input=False
        )


def assert_accepted_outputs_are_honest(model: bytes, result: JobResult, comparator: str) -> None:
    """Each accepted output agrees with the submitter's own run, by the tier's comparator."""
    runner, agree = load_runner(model), comparator_for(comparator)
    assert len(result.outcome.outputs) == len(result.plan.real_shards)
    for shard in result.plan.real_shards:
        assert agree(result.outcome.outputs[shard.index], runner.run_bytes(shard.input_bytes))


def assert_agreeing_hashes_differ(result: JobResult) -> None:
    """Honest float noise: agreeing replicas committed different hashes, and still agreed."""
    for record in result.records:
        hashes = [
            r.commit.output_hash
            for r in record.replicas
            if r.node_key in record.agreeing and r.commit is not None
        ]
        assert len(hashes) >= 2
        assert all(a != b for a, b in combinations(hashes, 2))


def test_minilm_job_verifies_honest_noise_and_catches_a_tolerant_liar(
    tmp_path: Path, minilm_model: bytes
) -> None:
    async def main() -> None:
        async with open_fleet(tmp_path / "fleet", minilm_model, 4, **QUIET) as nodes:
            share_cpu(nodes)
            honest, liar = nodes[:3], nodes[3]
            add_float_noise(honest)
            liar.tasks._executor = PerturbedOutputExecutor(liar.tasks._executor)
            async with open_client(client_config(tmp_path, nodes)) as client:
                with trio.fail_after(60):
                    await client.wait_for_nodes(4)
                spec = JobSpec(
                    model="minilm-l6-embed",
                    inputs=SAMPLE_SENTENCES,
                    shard_size=4,
                    replicas=3,
                    max_replicas=4,
                    max_node_share=1.0,
                    output_dir=tmp_path / "out",
                )
                events = EventLog()
                with trio.fail_after(600):
                    result = await client.run_job(spec, on_event=events)
        manifest = result.plan.manifest.manifest
        assert (manifest.task, manifest.replication.name) == ("embed-text", TOLERANT_POLICY)
        assert manifest.comparator == "embeddings"
        assert len(result.plan.real_shards) == 6  # 24 bundled sentences, 4 per shard
        assert_accepted_outputs_are_honest(minilm_model, result, "embeddings")
        assert_agreeing_hashes_differ(result)
        liar_key = liar.identity.public_key
        voted = {rep.node_key for r in result.records for rep in r.replicas if rep.output}
        assert liar_key in voted  # placed on ~3 of 4 shards: a miss on all 6 is 4**-6
        assert set(result.outcome.caught) == {liar_key}
        for record in result.records:
            assert liar_key not in record.agreeing
            assert len(record.agreeing) >= 3 or record.settled_locally
        assert "revealed" in events.kinds() and "caught" in events.kinds()

    trio.run(main)


def test_float_mobilenet_job_with_canaries_accepts_honest_float_noise(
    tmp_path: Path, float_mobilenet: bytes
) -> None:
    photos = write_photos(tmp_path / "photos", ("coffee", "chelsea", "rocket", "clock"))

    async def main() -> None:
        async with open_fleet(tmp_path / "fleet", float_mobilenet, 3, **QUIET) as nodes:
            share_cpu(nodes)
            add_float_noise(nodes)
            async with open_client(client_config(tmp_path, nodes)) as client:
                with trio.fail_after(60):
                    await client.wait_for_nodes(3)
                spec = JobSpec(
                    model="mobilenet_v2-float",
                    inputs=str(photos),
                    shard_size=2,
                    policy="adaptive",
                    replicas=2,
                    max_replicas=3,
                    canary_rate=0.5,
                    max_node_share=1.0,
                    output_dir=tmp_path / "out",
                )
                with trio.fail_after(600):
                    result = await client.run_job(spec)
        manifest = result.plan.manifest.manifest
        assert (manifest.runtime, manifest.comparator) == ("onnxruntime", "classification")
        assert_accepted_outputs_are_honest(float_mobilenet, result, "classification")
        assert_agreeing_hashes_differ(result)
        assert not result.outcome.caught and not result.outcome.recomputed
        canaries = sum(1 for s in result.plan.shards if s.canary)
        assert canaries == 1 and result.outcome.canaries_passed == canaries

    trio.run(main)


def test_without_a_tolerant_quorum_the_submitter_recomputes_and_names_the_liars(
    tmp_path: Path, minilm_model: bytes
) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(line for line in sample_sentences()[:8]) + "\n")

    async def main() -> None:
        async with open_fleet(tmp_path / "fleet", minilm_model, 3, **QUIET) as nodes:
            share_cpu(nodes)
            honest, liars = nodes[0], nodes[1:]
            add_float_noise([honest])
            for liar in liars:  # two liars that do not even agree with each other
                liar.tasks._executor = PerturbedOutputExecutor(
                    liar.tasks._executor, seed_by_input=False
                )
            async with open_client(client_config(tmp_path, nodes)) as client:
                with trio.fail_after(60):
                    await client.wait_for_nodes(3)
                spec = JobSpec(
                    model="minilm-l6-embed",
                    inputs=str(texts),
                    shard_size=4,
                    replicas=2,
                    max_replicas=3,
                    max_node_share=1.0,
                    output_dir=tmp_path / "out",
                )
                with trio.fail_after(600):
                    result = await client.run_job(spec)
        assert sorted(result.outcome.recomputed) == [s.index for s in result.plan.real_shards]
        assert_accepted_outputs_are_honest(minilm_model, result, "embeddings")
        liar_keys = {liar.identity.public_key for liar in liars}
        voted = {rep.node_key for r in result.records for rep in r.replicas if rep.output}
        assert set(result.outcome.caught) == liar_keys & voted and liar_keys & voted
        for record in result.records:  # settled without the honest node if two liars drew it
            assert record.settled_locally
            assert set(record.agreeing) <= {honest.identity.public_key}
            assert set(record.dissenting) == liar_keys & {
                rep.node_key for rep in record.replicas if rep.output
            }

    trio.run(main)
