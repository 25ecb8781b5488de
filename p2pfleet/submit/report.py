"""Job outputs: per-input predictions, the raw verified outputs, and a JSON report."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from p2pfleet.core.identity import key_fingerprint, peer_id_from_public_key
from p2pfleet.inference.tensors import decode_tensor
from p2pfleet.submit.client import JobResult
from p2pfleet.submit.coordinator import ShardRecord

REPORT_VERSION = 1


def predictions(result: JobResult, top: int = 3) -> list[dict[str, Any]]:
    rows = []
    for record in sorted(result.records, key=lambda r: r.shard.index):
        assert record.output is not None
        logits = decode_tensor(record.output, max_bytes=1 << 26)
        for name, ranked in zip(record.shard.names, result.model.top_k(logits, top), strict=True):
            rows.append(
                {
                    "input": name,
                    "shard": record.shard.index,
                    "top": [{"label": label, "p": round(p, 4)} for label, p in ranked],
                }
            )
    return rows


def shard_summary(record: ShardRecord) -> dict[str, Any]:
    return {
        "shard": record.shard.index,
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
    return Counter(peer_id_from_public_key(k) for r in result.records for k in r.dissenting)


def build_report(result: JobResult) -> dict[str, Any]:
    manifest = result.plan.manifest.manifest
    replicas_run = sum(1 for r in result.records for rep in r.replicas if rep.commit is not None)
    return {
        "report_version": REPORT_VERSION,
        "job_id": result.plan.job_id.hex(),
        "model": manifest.model.hex(),
        "runtime": manifest.runtime,
        "policy": {
            "name": manifest.replication.name,
            "replicas": manifest.replication.replicas,
            "max_replicas": manifest.replication.max_replicas,
        },
        "shards_total": len(result.plan.shards),
        "shards_verified": sum(1 for r in result.records if r.output is not None),
        "replica_runs": replicas_run,
        "verification_overhead_pct": round(
            100 * (replicas_run - len(result.records)) / max(1, len(result.records)), 1
        ),
        "elapsed_s": round(result.elapsed_s, 3),
        "dissenters": dict(dissenters(result)),
        "shards": [shard_summary(r) for r in sorted(result.records, key=lambda r: r.shard.index)],
        "predictions": predictions(result),
    }


def write_outputs(result: JobResult, directory: Path) -> Path:
    """Write the verified shard outputs (canonical tensors) and report.json."""
    directory.mkdir(parents=True, exist_ok=True)
    shards_dir = directory / "shards"
    shards_dir.mkdir(exist_ok=True)
    for record in result.records:
        assert record.output is not None
        (shards_dir / f"{record.shard.index:05d}.p2ft").write_bytes(record.output)
    report = build_report(result)
    path = directory / "report.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path
