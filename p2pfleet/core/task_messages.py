"""Messages of the task stream protocol (`/p2pfleet/task/0.1.0`).

Each frame is one canonical msgpack map with a type tag `t`. Commit, result
and abandon carry a signed envelope (`env`) so a node's claims can be shown to
third parties; their payloads bind job id and shard index to the signer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from p2pfleet.core import codec
from p2pfleet.core.compress import decompress
from p2pfleet.core.envelope import Domain, open_envelope, seal
from p2pfleet.core.errors import DecodeError, LimitExceededError
from p2pfleet.core.identity import Identity
from p2pfleet.core.limits import BULK_LIMITS, CONTROL_LIMITS, MAX_TENSOR_BYTES

SIGNED_VERSION = 1


class RejectReason(StrEnum):
    """Machine-readable reasons a node refuses or drops work."""

    POLICY_DISABLED = "policy-disabled"
    BATTERY_LOW = "battery-low"
    NOT_PLUGGED_IN = "not-plugged-in"
    OUTSIDE_HOURS = "outside-hours"
    ENERGY_BUDGET = "energy-budget"
    DATA_CAP = "data-cap"
    THERMAL = "thermal"
    DRIVING = "driving"
    BUSY = "busy"
    REGION_NOT_ALLOWED = "region-not-allowed"
    MODEL_MISSING = "model-missing"
    RUNTIME_UNSUPPORTED = "runtime-unsupported"
    DEADLINE = "deadline"
    BAD_MANIFEST = "bad-manifest"
    BAD_INPUT = "bad-input"
    EXECUTION_FAILED = "execution-failed"
    SHUTTING_DOWN = "shutting-down"


@dataclass(frozen=True, slots=True, kw_only=True)
class Assign:
    manifest_wire: bytes
    shard: int
    input_zstd: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Accept:
    estimated_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Reject:
    reason: RejectReason
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Commit:
    """Signed promise of an output: `output_hash` = SHA-256 of the canonical output."""

    job_id: bytes
    shard: int
    output_hash: bytes
    node_key: bytes = b""  # filled from the envelope on receipt
    wire: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class RevealRequest:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    job_id: bytes
    shard: int
    output_hash: bytes
    output_zstd: bytes
    runtime_ms: int
    node_key: bytes = b""
    wire: bytes = b""

    def output(self) -> bytes:
        """Decompress (capped) and check the bytes against the signed hash."""
        data = decompress(self.output_zstd, max_output=MAX_TENSOR_BYTES)
        if hashlib.sha256(data).digest() != self.output_hash:
            raise DecodeError("revealed output does not match its signed hash")
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class Abandon:
    job_id: bytes
    shard: int
    reason: RejectReason
    node_key: bytes = b""
    wire: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorMessage:
    code: str
    detail: str = ""


TaskMessage: TypeAlias = (
    Assign | Accept | Reject | Commit | RevealRequest | Result | Abandon | ErrorMessage
)


def sign_commit(identity: Identity, job_id: bytes, shard: int, output_hash: bytes) -> Commit:
    payload = codec.encode({"v": SIGNED_VERSION, "job": job_id, "shard": shard, "out": output_hash})
    wire = seal(identity, Domain.COMMIT, payload).to_bytes()
    return Commit(
        job_id=job_id, shard=shard, output_hash=output_hash, node_key=identity.public_key, wire=wire
    )


def sign_result(
    identity: Identity,
    job_id: bytes,
    shard: int,
    output: bytes,
    output_zstd: bytes,
    runtime_ms: int,
) -> Result:
    output_hash = hashlib.sha256(output).digest()
    payload = codec.encode(
        {
            "v": SIGNED_VERSION,
            "job": job_id,
            "shard": shard,
            "out": output_hash,
            "data": output_zstd,
            "ms": runtime_ms,
        }
    )
    wire = seal(identity, Domain.RESULT, payload).to_bytes()
    return Result(
        job_id=job_id,
        shard=shard,
        output_hash=output_hash,
        output_zstd=output_zstd,
        runtime_ms=runtime_ms,
        node_key=identity.public_key,
        wire=wire,
    )


def sign_abandon(identity: Identity, job_id: bytes, shard: int, reason: RejectReason) -> Abandon:
    payload = codec.encode(
        {"v": SIGNED_VERSION, "job": job_id, "shard": shard, "why": reason.value}
    )
    wire = seal(identity, Domain.ABANDON, payload).to_bytes()
    return Abandon(
        job_id=job_id, shard=shard, reason=reason, node_key=identity.public_key, wire=wire
    )


def encode_message(message: TaskMessage) -> bytes:
    """One frame's bytes for `message`."""
    match message:
        case Assign():
            body: dict[str, codec.Value] = {
                "t": "assign",
                "man": message.manifest_wire,
                "shard": message.shard,
                "in": message.input_zstd,
            }
        case Accept():
            body = {"t": "accept", "est": message.estimated_ms}
        case Reject():
            body = {"t": "reject", "why": message.reason.value, "detail": message.detail}
        case Commit():
            body = {"t": "commit", "env": message.wire}
        case RevealRequest():
            body = {"t": "reveal"}
        case Result():
            body = {"t": "result", "env": message.wire}
        case Abandon():
            body = {"t": "abandon", "env": message.wire}
        case ErrorMessage():
            body = {"t": "error", "code": message.code, "detail": message.detail}
    return codec.encode(body)


def decode_message(frame: bytes) -> TaskMessage:
    """Decode one frame; signed messages are verified before their payload is decoded."""
    doc = codec.as_map(codec.decode(frame, BULK_LIMITS), "task message")
    kind = codec.field_str(doc, "t", max_len=16)
    if kind != "assign" and kind != "result" and len(frame) > CONTROL_LIMITS.max_document:
        raise LimitExceededError(
            f"{kind} frame of {len(frame)} bytes exceeds the control-message limit"
        )
    try:
        reason_of = RejectReason
        match kind:
            case "assign":
                return Assign(
                    manifest_wire=codec.field_bytes(
                        doc, "man", max_len=CONTROL_LIMITS.max_document
                    ),
                    shard=codec.field_int(doc, "shard", low=0),
                    input_zstd=codec.field_bytes(doc, "in"),
                )
            case "accept":
                return Accept(estimated_ms=codec.field_int(doc, "est", low=0))
            case "reject":
                return Reject(
                    reason=reason_of(codec.field_str(doc, "why")),
                    detail=codec.field_str(doc, "detail", max_len=1024),
                )
            case "reveal":
                return RevealRequest()
            case "error":
                return ErrorMessage(
                    code=codec.field_str(doc, "code", max_len=64),
                    detail=codec.field_str(doc, "detail", max_len=1024),
                )
            case "commit" | "result" | "abandon":
                return _decode_signed(kind, codec.field_bytes(doc, "env"))
    except ValueError as exc:  # unknown enum value
        raise DecodeError(f"invalid {kind} message: {exc}") from exc
    raise DecodeError(f"unknown task message type {kind!r}")


def _decode_signed(kind: str, wire: bytes) -> TaskMessage:
    domain = {"commit": Domain.COMMIT, "result": Domain.RESULT, "abandon": Domain.ABANDON}[kind]
    limits = BULK_LIMITS if kind == "result" else CONTROL_LIMITS
    envelope = open_envelope(wire, domain, max_size=limits.max_document)
    doc = codec.as_map(codec.decode(envelope.payload, limits), kind)
    if codec.field_int(doc, "v") != SIGNED_VERSION:
        raise DecodeError(f"{kind} version {doc.get('v')!r} is not supported")
    job_id = codec.field_bytes(doc, "job", size=32)
    shard = codec.field_int(doc, "shard", low=0)
    if kind == "commit":
        return Commit(
            job_id=job_id,
            shard=shard,
            output_hash=codec.field_bytes(doc, "out", size=32),
            node_key=envelope.signer,
            wire=wire,
        )
    if kind == "result":
        return Result(
            job_id=job_id,
            shard=shard,
            output_hash=codec.field_bytes(doc, "out", size=32),
            output_zstd=codec.field_bytes(doc, "data"),
            runtime_ms=codec.field_int(doc, "ms", low=0),
            node_key=envelope.signer,
            wire=wire,
        )
    return Abandon(
        job_id=job_id,
        shard=shard,
        reason=RejectReason(codec.field_str(doc, "why")),
        node_key=envelope.signer,
        wire=wire,
    )
