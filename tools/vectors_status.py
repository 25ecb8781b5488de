"""Test vectors for the public status protocol (protocol/status.md) -> protocol/vectors/status.json.

Registered in tools/gen_vectors.py; deterministic (fixed seeds, nonces, times).
"""

from __future__ import annotations

from typing import Any

import msgpack
from vector_checks import expect_error, jsonish

from p2pfleet.core import codec
from p2pfleet.core.advert import VehicleState
from p2pfleet.core.envelope import Domain, seal
from p2pfleet.core.identity import Identity
from p2pfleet.core.status import (
    MAX_REQUEST_BYTES,
    MAX_STATUS_BYTES,
    MAX_STATUS_JOBS,
    MAX_STATUS_PEERS,
    NONCE_SIZE,
    STATUS_LIMITS,
    STATUS_PROTOCOL,
    JobSeen,
    NodeStatusReport,
    StatusRequest,
    sign_status,
    verify_status,
)

SEED_NODE = bytes(range(32))
SEED_FORGER = bytes([0xEE] * 32)
NODE = Identity(SEED_NODE)
FORGER = Identity(SEED_FORGER)
T0 = 1_795_000_000_000
NONCE = bytes(range(0xA0, 0xA0 + NONCE_SIZE))
OTHER_NONCE = bytes(NONCE_SIZE)
PEERS = tuple(Identity(bytes([i]) * 32).peer_id for i in range(1, 4))


def reference_report(**changes: Any) -> NodeStatusReport:
    fields: dict[str, Any] = {
        "nonce": NONCE,
        "issued_at_ms": T0,
        "region": "eu-central",
        "state": VehicleState.PARKED,
        "peer_count": 5,
        "peers": PEERS,
        "jobs": (
            JobSeen(
                job_id=bytes([0x11]) * 32, shards_done=3, shards_assigned=4, last_ms=T0 - 60_000
            ),
            JobSeen(
                job_id=bytes([0x22]) * 32, shards_done=0, shards_assigned=1, last_ms=T0 - 600_000
            ),
        ),
    }
    fields.update(changes)
    return NodeStatusReport(**fields)


def _fields(report: NodeStatusReport) -> dict[str, Any]:
    return {
        "nonce": report.nonce.hex(),
        "issued_at_ms": report.issued_at_ms,
        "region": report.region,
        "state": report.state.value,
        "peer_count": report.peer_count,
        "peers": list(report.peers),
        "jobs": [
            {
                "job_id": j.job_id.hex(),
                "shards_done": j.shards_done,
                "shards_assigned": j.shards_assigned,
                "last_ms": j.last_ms,
            }
            for j in report.jobs
        ],
    }


def status_vectors() -> dict[str, Any]:
    requests = [
        {
            "name": "request",
            "nonce": NONCE.hex(),
            "frame": StatusRequest(nonce=NONCE).to_bytes().hex(),
        }
    ]
    bad_requests = [
        ("nonce-15-bytes", codec.encode({"v": 1, "nonce": bytes(15)}), "DecodeError"),
        ("request-version-2", codec.encode({"v": 2, "nonce": NONCE}), "DecodeError"),
        ("request-too-long", codec.encode({"v": 1, "nonce": NONCE, "x": "a" * 60}), "DecodeError"),
    ]
    invalid_requests = []
    for name, frame, error in bad_requests:
        expect_error(lambda f=frame: StatusRequest.from_bytes(f), error, name)  # type: ignore[misc]
        invalid_requests.append({"name": name, "frame": frame.hex(), "error": error})

    full_peers = tuple(Identity(bytes([i]) * 32).peer_id for i in range(1, MAX_STATUS_PEERS + 1))
    full_jobs = tuple(
        JobSeen(job_id=bytes([i]) * 32, shards_done=1, shards_assigned=1, last_ms=T0)
        for i in range(MAX_STATUS_JOBS)
    )
    cases = [
        ("reference", reference_report()),
        ("no-peers-no-jobs", reference_report(peers=(), peer_count=0, jobs=(), region="")),
        (
            "full-driving",
            reference_report(
                peers=full_peers, peer_count=200, jobs=full_jobs, state=VehicleState.DRIVING
            ),
        ),
    ]
    valid = []
    for name, report in cases:
        signed = sign_status(NODE, report)
        valid.append(
            {
                "name": name,
                "seed": SEED_NODE.hex(),
                "nonce": report.nonce.hex(),
                "wire": signed.wire.hex(),
                "wire_size": len(signed.wire),
                "peer_id": signed.peer_id,
                "payload_value": jsonish(codec.decode(report.to_payload(), STATUS_LIMITS)),
                "fields": _fields(report),
            }
        )

    good = sign_status(NODE, reference_report()).wire
    doc = msgpack.unpackb(reference_report().to_payload(), raw=False)

    def sealed(document: Any) -> bytes:
        return seal(NODE, Domain.STATUS, codec.encode(document)).to_bytes()

    invalid_cases = [
        (
            "forged-signer-key",
            bytes([good[0]]) + FORGER.public_key + good[33:],
            NONCE,
            "SignatureError",
            "signer key replaced, signature kept",
        ),
        (
            "signed-as-advert",
            seal(NODE, Domain.ADVERT, reference_report().to_payload()).to_bytes(),
            NONCE,
            "SignatureError",
            "payload signed under p2pfleet/advert/1",
        ),
        (
            "other-nonce",
            good,
            OTHER_NONCE,
            "StaleMessageError",
            "a valid status that answers another request",
        ),
        (
            "65-peers",
            sealed(dict(doc, peers=[PEERS[0]] * 65, npeer=65)),
            NONCE,
            "DecodeError",
            "at most MAX_STATUS_PEERS peers",
        ),
        (
            "17-jobs",
            sealed(dict(doc, jobs=[doc["jobs"][0]] * 17)),
            NONCE,
            "DecodeError",
            "at most MAX_STATUS_JOBS jobs",
        ),
        (
            "npeer-below-listed",
            sealed(dict(doc, npeer=1)),
            NONCE,
            "DecodeError",
            "npeer counts at least the listed peers",
        ),
        (
            "done-over-assigned",
            sealed(dict(doc, jobs=[dict(doc["jobs"][0], done=9)])),
            NONCE,
            "DecodeError",
            "done <= n",
        ),
        (
            "job-id-31-bytes",
            sealed(dict(doc, jobs=[dict(doc["jobs"][0], id=bytes(31))])),
            NONCE,
            "DecodeError",
            "job ids are 32-byte hashes",
        ),
        ("unknown-state", sealed(dict(doc, st="flying")), NONCE, "DecodeError", "st is an enum"),
        ("version-2", sealed(dict(doc, v=2)), NONCE, "DecodeError", "only v = 1 is defined"),
        (
            "peer-id-too-long",
            sealed(dict(doc, peers=["x" * 65], npeer=1)),
            NONCE,
            "DecodeError",
            "peer ids are at most 64 characters",
        ),
        (
            "oversize-envelope",
            good + bytes(MAX_STATUS_BYTES),
            NONCE,
            "LimitExceededError",
            "envelope longer than MAX_STATUS_BYTES",
        ),
    ]
    invalid = []
    for name, wire, nonce, error, why in invalid_cases:
        expect_error(lambda w=wire, n=nonce: verify_status(w, nonce=n), error, name)  # type: ignore[misc]
        invalid.append(
            {"name": name, "wire": wire.hex(), "nonce": nonce.hex(), "error": error, "why": why}
        )

    return {
        "title": f"public node status {STATUS_PROTOCOL}",
        "spec": "status.md",
        "generated_by": "tools/vectors_status.py (via tools/gen_vectors.py)",
        "bytes_encoding": 'byte strings in decoded values are {"$bytes": "<hex>"}',
        "protocol_id": STATUS_PROTOCOL,
        "domain": Domain.STATUS.value,
        "limits": {
            "nonce_size": NONCE_SIZE,
            "max_request_bytes": MAX_REQUEST_BYTES,
            "max_status_bytes": MAX_STATUS_BYTES,
            "max_status_peers": MAX_STATUS_PEERS,
            "max_status_jobs": MAX_STATUS_JOBS,
        },
        "requests": requests,
        "invalid_requests": invalid_requests,
        "valid": valid,
        "invalid": invalid,
    }
