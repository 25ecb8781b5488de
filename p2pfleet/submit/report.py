"""Job outputs: per-input predictions, the raw verified outputs, and a JSON report.

Deterministic files (`shards/NNNNN.p2ft`, numbered by the real shard's
position among the job's inputs, and `predictions.json`) depend only on the
inputs and the model, so a resumed job writes them byte-identical to an
uninterrupted run. `report.json` adds who did what, disputes and timings.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from p2pfleet.core.identity import key_fingerprint, peer_id_from_public_key
from p2pfleet.submit.client import JobResult
from p2pfleet.submit.coordinator import ShardRecord
from p2pfleet.submit.predictions import predictions

REPORT_VERSION = 2


def shard_summary(record: ShardRecord) -> dict[str, Any]:
    return {
        "shard": record.shard.index,
        "canary": record.shard.canary,
        "checked": record.checked,
        "settled_locally": record.settled_locally,
        "inputs": list(record.shard.names),
        "output_sha256": record.accepted_hash.hex() if record.accepted_hash else None,
        "agreeing": [peer_id_from_public_key(k) for k in record.agreeing],
        "dissenting": [peer_id_from_public_key(k) for k in record.dissenting],
        "elapsed_ms": round(((record.verified_at or record.started_at) - record.started_at) * 1000),
        "replicas": [
            {
                "peer": r.peer_id,
                "owner": key_fingerprint(r.advert.advert.owner),
                "outcome": r.outcome.value,
                "detail": r.detail,
                "output_sha256": r.commit.output_hash.hex() if r.commit else None,
                "runtime_ms": r.result.runtime_ms if r.result else None,
            }
            for r in record.replicas
        ],
    }


def dissenters(result: JobResult) -> Counter[str]:
    return Counter(peer_id_from_public_key(k) for k in result.outcome.caught.elements())


def replica_runs(result: JobResult) -> int:
    """Replica computations this session (every signed commit, canaries included)."""
    return sum(1 for r in result.outcome.records for rep in r.replicas if rep.commit is not None)


def build_report(result: JobResult) -> dict[str, Any]:
    manifest = result.plan.manifest.manifest
    outcome = result.outcome
    real = result.plan.real_shards
    ran = sum(1 for r in outcome.records if not r.shard.canary)
    runs = replica_runs(result)
    return {
        "report_version": REPORT_VERSION,
        "job_id": result.job_id,
        "model": manifest.model.hex(),
        "runtime": manifest.runtime,
        "task": manifest.task,
        "tier": "tolerant" if manifest.tolerant else "exact",
        "comparator": manifest.comparator,
        "policy": {
            # the job's own policy name, or the tier's unanimity policy the manifest carries
            "name": result.spec.policy
            if result.spec.policy == "adaptive"
            else manifest.replication.name,
            "replicas": result.spec.replicas,
            "max_replicas": result.spec.max_replicas,
            "on_dispute": result.spec.on_dispute,
        },
        "shards_total": len(real),
        "shards_verified": sum(1 for s in real if s.index in outcome.outputs),
        "shards_unchecked": sorted(outcome.unchecked),
        "shards_resumed": outcome.resumed,
        "shards_recomputed_locally": sorted(outcome.recomputed),
        "canaries": sum(1 for s in result.plan.shards if s.canary),
        "canaries_passed": outcome.canaries_passed,
        "replica_runs": runs,
        "verification_overhead_pct": round(100 * (runs - ran) / max(1, ran), 1),
        "elapsed_s": round(result.elapsed_s, 3),
        "dissenters": dict(dissenters(result)),
        "shards": [shard_summary(r) for r in sorted(outcome.records, key=lambda r: r.shard.index)],
        "predictions": predictions(result),
    }


def write_outputs(result: JobResult, directory: Path) -> Path:
    """Write the verified shard outputs (canonical tensors), predictions.json and report.json."""
    directory.mkdir(parents=True, exist_ok=True)
    shards_dir = directory / "shards"
    shards_dir.mkdir(exist_ok=True)
    for position, shard in enumerate(result.plan.real_shards):
        output = result.outcome.outputs.get(shard.index)
        if output is not None:
            (shards_dir / f"{position:05d}.p2ft").write_bytes(output)
    report = build_report(result)
    (directory / "predictions.json").write_text(
        json.dumps(report["predictions"], indent=2, sort_keys=True) + "\n"
    )
    path = directory / "report.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path
