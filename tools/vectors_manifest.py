"""Test vectors for protocol/manifest.md and protocol/task.md.

Registered in tools/gen_vectors.py, which writes and checks the files.
Deterministic: fixed seeds, fixed timestamps, Ed25519 and hard-coded zstd
frames (`check_fixed_inputs` checks them), so the same core always writes
the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import msgpack
from vector_checks import expect_error, header, jsonish, raw  # tools/ is on sys.path

from p2pfleet.core import codec
from p2pfleet.core.compress import decompress
from p2pfleet.core.envelope import HEADER_SIZE, Domain, seal
from p2pfleet.core.identity import Identity
from p2pfleet.core.limits import BULK_LIMITS, CONTROL_LIMITS
from p2pfleet.core.manifest import (
    TOLERANT_POLICY,
    Manifest,
    ReplicationPolicy,
    ShardSpec,
    sign_manifest,
    verify_manifest,
)
from p2pfleet.core.task_messages import (
    Accept,
    Assign,
    ErrorMessage,
    Reject,
    RejectReason,
    RevealRequest,
    TaskMessage,
    decode_message,
    encode_message,
    sign_abandon,
    sign_commit,
    sign_result,
)
from p2pfleet.core.tasks import _TRANSITIONS

SEED_NODE = bytes(range(32))
SEED_SUBMITTER = bytes(range(64, 96))
T0 = 1_795_000_000_000  # 2026-11-18T11:06:40Z, unix milliseconds
NODE = Identity(SEED_NODE)
SUBMITTER = Identity(SEED_SUBMITTER)
FORGER = Identity(bytes([0xEE] * 32))

# zstd frames are written out rather than produced by the compressor, so a
# different zstd build can never change the vectors (level 3, content size).
SHARD_INPUT = bytes(range(16)) * 4  # 64 bytes of "tensor"
SHARD_INPUT_ZSTD = bytes.fromhex("28b52ffd2040bd000080000102030405060708090a0b0c0d0e0f01009a682e01")
SHARD_OUTPUT = b"\x07" * 32 + b"\x01\x02\x03\x04"  # 36 bytes of canonical output
SHARD_OUTPUT_ZSTD = bytes.fromhex("28b52ffd202465000030070701020304010022c002")

MODULE = "vectors_manifest.py"


def check_fixed_inputs() -> None:
    if decompress(SHARD_INPUT_ZSTD, max_output=1024) != SHARD_INPUT:
        raise SystemExit("SHARD_INPUT_ZSTD does not decompress to SHARD_INPUT")
    if decompress(SHARD_OUTPUT_ZSTD, max_output=1024) != SHARD_OUTPUT:
        raise SystemExit("SHARD_OUTPUT_ZSTD does not decompress to SHARD_OUTPUT")


# -- manifests -------------------------------------------------------------------


def reference_manifest(**changes: Any) -> Manifest:
    fields: dict[str, Any] = {
        "submitter": SUBMITTER.public_key,
        "nonce": bytes(range(16)),
        "created_at_ms": T0,
        "deadline_ms": T0 + 3_600_000,
        "task": "classify-image",
        "model": hashlib.sha256(b"model-0").digest(),
        "runtime": "p2pfleet-int8/1",
        "runtime_settings": (("threads", "1"), ("layout", "nhwc")),
        "shards": (
            ShardSpec(input_hash=hashlib.sha256(SHARD_INPUT).digest(), items=4),
            ShardSpec(input_hash=hashlib.sha256(b"shard-1").digest(), items=3),
        ),
        "replication": ReplicationPolicy(replicas=3, max_replicas=6),
        "regions": ("eu-west-paris", "eu-west-lyon"),
    }
    fields.update(changes)
    return Manifest(**fields)


def manifest_fields(manifest: Manifest) -> dict[str, Any]:
    return {
        "submitter": manifest.submitter.hex(),
        "nonce": manifest.nonce.hex(),
        "created_at_ms": manifest.created_at_ms,
        "deadline_ms": manifest.deadline_ms,
        "task": manifest.task,
        "model": manifest.model.hex(),
        "runtime": manifest.runtime,
        "runtime_settings": dict(manifest.runtime_settings),
        "shards": [{"input_hash": s.input_hash.hex(), "items": s.items} for s in manifest.shards],
        "replication": {
            "name": manifest.replication.name,
            "replicas": manifest.replication.replicas,
            "max_replicas": manifest.replication.max_replicas,
        },
        "regions": list(manifest.regions),
    }


def manifest_vectors() -> dict[str, Any]:
    valid = []
    for name, manifest in [
        ("reference", reference_manifest()),
        (
            "any-region-one-shard",
            reference_manifest(
                regions=(),
                runtime_settings=(),
                shards=reference_manifest().shards[:1],
                replication=ReplicationPolicy(),
            ),
        ),
        (
            "tolerant-embed-text",
            reference_manifest(
                task="embed-text",
                runtime="onnxruntime",
                runtime_settings=(
                    ("execution_mode", "sequential"),
                    ("graph_optimization_level", "all"),
                    ("inter_op_threads", "1"),
                    ("intra_op_threads", "1"),
                    ("version", "1.32.0"),
                ),
                replication=ReplicationPolicy(name=TOLERANT_POLICY, replicas=2, max_replicas=4),
            ),
        ),
    ]:
        signed = sign_manifest(SUBMITTER, manifest)
        payload = manifest.to_payload()
        valid.append(
            {
                "name": name,
                "seed": SEED_SUBMITTER.hex(),
                "wire": signed.wire.hex(),
                "payload": payload.hex(),
                "job_id": signed.job_id.hex(),
                "payload_value": jsonish(codec.decode(payload, CONTROL_LIMITS)),
                "fields": manifest_fields(manifest),
                "comparator": manifest.comparator,
            }
        )

    payload = reference_manifest().to_payload()
    doc = msgpack.unpackb(payload, raw=False)

    def sealed(document: Any, identity: Identity = SUBMITTER) -> bytes:
        return seal(identity, Domain.MANIFEST, codec.encode(document)).to_bytes()

    invalid_cases = [
        (
            "signer-is-not-submitter",
            sealed(doc, FORGER),
            "DecodeError",
            "validly signed by a key other than `sub`",
        ),
        (
            "signed-as-advert",
            seal(SUBMITTER, Domain.ADVERT, payload).to_bytes(),
            "SignatureError",
            "payload signed under p2pfleet/advert/1",
        ),
        (
            "unknown-key",
            sealed(dict(doc, extra=1)),
            "DecodeError",
            "a key outside the schema: job_id would not name the signed bytes",
        ),
        (
            "deadline-not-after-creation",
            sealed(dict(doc, dl=doc["at"])),
            "DecodeError",
            "dl must be > at",
        ),
        (
            "replicas-over-max",
            sealed(dict(doc, rep={"p": "exact-unanimous", "k": 4, "max": 3})),
            "DecodeError",
            "k <= max",
        ),
        (
            "unknown-policy",
            sealed(dict(doc, rep={"p": "majority", "k": 2, "max": 3})),
            "DecodeError",
            "p is an enum",
        ),
        ("unknown-task", sealed(dict(doc, task="mine-coins")), "DecodeError", "task is an enum"),
        ("no-shards", sealed(dict(doc, shards=[])), "DecodeError", "1..MAX_SHARDS shards"),
        (
            "setting-not-str",
            sealed(dict(doc, rts={"threads": 1})),
            "DecodeError",
            "runtime settings map str to str",
        ),
        ("version-2", sealed(dict(doc, v=2)), "DecodeError", "only v = 1 is defined"),
    ]
    invalid = []
    for name, wire, error, why in invalid_cases:
        expect_error(lambda w=wire: verify_manifest(w), error, name)  # type: ignore[misc]
        invalid.append({"name": name, "wire": wire.hex(), "error": error, "why": why})
    return {**header("task manifest", "manifest.md", MODULE), "valid": valid, "invalid": invalid}


# -- task stream -------------------------------------------------------------------


def message_fields(message: TaskMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(message).__name__}
    for name in getattr(message, "__slots__", ()):
        value = getattr(message, name)
        out[name] = value.hex() if isinstance(value, bytes) else str(value)
        if isinstance(value, int):
            out[name] = value
    return out


def task_vectors() -> dict[str, Any]:
    manifest = sign_manifest(SUBMITTER, reference_manifest())
    job = manifest.job_id
    out_hash = hashlib.sha256(SHARD_OUTPUT).digest()
    messages: list[tuple[str, TaskMessage]] = [
        ("assign", Assign(manifest_wire=manifest.wire, shard=0, input_zstd=SHARD_INPUT_ZSTD)),
        ("accept", Accept(estimated_ms=12_000)),
        ("reject", Reject(reason=RejectReason.BATTERY_LOW, detail="battery 18% < 30%")),
        ("reject-empty-detail", Reject(reason=RejectReason.REGION_NOT_ALLOWED)),
        ("commit", sign_commit(NODE, job, 0, out_hash)),
        ("reveal", RevealRequest()),
        ("result", sign_result(NODE, job, 0, SHARD_OUTPUT, SHARD_OUTPUT_ZSTD, 9_500)),
        ("abandon", sign_abandon(NODE, job, 0, RejectReason.DRIVING)),
        ("error", ErrorMessage(code="internal", detail="executor crashed")),
    ]
    valid = []
    for name, message in messages:
        data = encode_message(message)
        entry: dict[str, Any] = {
            "name": name,
            "frame": data.hex(),
            "frame_value": jsonish(codec.decode(data, BULK_LIMITS)),
            "fields": message_fields(decode_message(data)),
        }
        if name in ("commit", "result", "abandon"):
            entry["seed"] = SEED_NODE.hex()
            signed_wire: bytes = getattr(message, "wire")  # noqa: B009
            entry["signed_payload"] = signed_wire[HEADER_SIZE:].hex()
            entry["signed_payload_value"] = jsonish(
                codec.decode(signed_wire[HEADER_SIZE:], BULK_LIMITS)
            )
        valid.append(entry)

    commit = sign_commit(NODE, job, 0, out_hash)
    flipped = bytearray(commit.wire)
    flipped[40] ^= 0x80

    def frame(document: Any) -> bytes:
        return codec.encode(document)

    def env(domain: Domain, document: Any) -> bytes:
        return seal(NODE, domain, codec.encode(document)).to_bytes()

    commit_doc = {"v": 1, "job": job, "shard": 0, "out": out_hash}
    bad_output = sign_result(NODE, job, 0, SHARD_OUTPUT + b"!", SHARD_OUTPUT_ZSTD, 1)
    invalid_cases = [
        ("unknown-type", frame({"t": "cancel"}), "DecodeError", "t is an enum"),
        ("type-missing", frame({"est": 1}), "DecodeError", "every frame has t"),
        ("not-a-map", frame(["accept", 1]), "DecodeError", "a frame is a map"),
        (
            "not-canonical",
            raw({"t": "accept", "est": 1}),
            "DecodeError",
            "keys in insertion order, not sorted",
        ),
        ("accept-negative-estimate", frame({"t": "accept", "est": -1}), "DecodeError", "est >= 0"),
        (
            "reject-unknown-reason",
            frame({"t": "reject", "why": "bored", "detail": ""}),
            "DecodeError",
            "why is a RejectReason",
        ),
        (
            "reject-detail-missing",
            frame({"t": "reject", "why": "busy"}),
            "DecodeError",
            "detail is required (may be empty)",
        ),
        (
            "assign-negative-shard",
            frame({"t": "assign", "man": manifest.wire, "shard": -1, "in": SHARD_INPUT_ZSTD}),
            "DecodeError",
            "shard >= 0",
        ),
        (
            "commit-flipped-signature",
            frame({"t": "commit", "env": bytes(flipped)}),
            "SignatureError",
            "one signature bit flipped",
        ),
        (
            "commit-signed-as-result",
            frame({"t": "commit", "env": env(Domain.RESULT, commit_doc)}),
            "SignatureError",
            "commit payload signed under p2pfleet/result/1",
        ),
        (
            "commit-version-2",
            frame({"t": "commit", "env": env(Domain.COMMIT, dict(commit_doc, v=2))}),
            "DecodeError",
            "only v = 1 is defined",
        ),
        (
            "commit-job-31-bytes",
            frame({"t": "commit", "env": env(Domain.COMMIT, dict(commit_doc, job=job[:31]))}),
            "DecodeError",
            "job is 32 bytes",
        ),
        (
            "abandon-unknown-reason",
            frame(
                {
                    "t": "abandon",
                    "env": env(Domain.ABANDON, {"v": 1, "job": job, "shard": 0, "why": "bored"}),
                }
            ),
            "DecodeError",
            "why is a RejectReason",
        ),
        (
            "commit-envelope-truncated",
            frame({"t": "commit", "env": commit.wire[:50]}),
            "DecodeError",
            "envelope shorter than its header",
        ),
    ]
    invalid = []
    for name, data, error, why in invalid_cases:
        expect_error(lambda d=data: decode_message(d), error, name)  # type: ignore[misc]
        invalid.append({"name": name, "frame": data.hex(), "error": error, "why": why})

    # decodes, but the revealed bytes do not hash to the signed output hash
    expect_error(lambda: bad_output.output(), "DecodeError", "result-output-mismatch")
    mismatch = {
        "name": "result-output-mismatch",
        "frame": encode_message(bad_output).hex(),
        "error": "DecodeError",
        "why": "decompressed output does not hash to the signed `out`",
    }
    transitions = [
        {
            "state": state.value,
            "message": message.__name__,
            "sender": role.value,
            "next": next_state.value,
        }
        for (state, message, role), next_state in _TRANSITIONS.items()
    ]
    return {
        **header("task stream /p2pfleet/task/0.1.0", "task.md", MODULE),
        "reject_reasons": [reason.value for reason in RejectReason],
        "transitions": transitions,
        "valid": valid,
        "invalid": invalid,
        "invalid_output": [mismatch],
    }


def _generators() -> dict[str, Callable[[], dict[str, Any]]]:
    check_fixed_inputs()
    return {"manifest.json": manifest_vectors, "task.json": task_vectors}


GENERATORS = _generators()
