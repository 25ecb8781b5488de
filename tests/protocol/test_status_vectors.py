"""Check the core against protocol/vectors/status.json (the public status protocol)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import msgpack
import pytest

from p2pfleet.core import errors
from p2pfleet.core.envelope import Domain
from p2pfleet.core.identity import Identity
from p2pfleet.core.status import (
    MAX_REQUEST_BYTES,
    MAX_STATUS_BYTES,
    MAX_STATUS_JOBS,
    MAX_STATUS_PEERS,
    NONCE_SIZE,
    STATUS_PROTOCOL,
    StatusRequest,
    sign_status,
    verify_status,
)

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors" / "status.json"


@cache
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data


def cases(section: str) -> list[dict[str, Any]]:
    return list(vectors()[section])


def unjson(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$bytes"}:
        return bytes.fromhex(value["$bytes"])
    if isinstance(value, dict):
        return {k: unjson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unjson(v) for v in value]
    return value


def test_constants_match_the_vectors() -> None:
    data = vectors()
    assert data["protocol_id"] == STATUS_PROTOCOL
    assert data["domain"] == Domain.STATUS.value
    assert data["limits"] == {
        "nonce_size": NONCE_SIZE,
        "max_request_bytes": MAX_REQUEST_BYTES,
        "max_status_bytes": MAX_STATUS_BYTES,
        "max_status_peers": MAX_STATUS_PEERS,
        "max_status_jobs": MAX_STATUS_JOBS,
    }


@pytest.mark.parametrize("case", cases("requests"), ids=lambda c: c["name"])
def test_valid_request(case: dict[str, Any]) -> None:
    frame = bytes.fromhex(case["frame"])
    request = StatusRequest.from_bytes(frame)
    assert request.nonce.hex() == case["nonce"]
    assert request.to_bytes() == frame


@pytest.mark.parametrize("case", cases("invalid_requests"), ids=lambda c: c["name"])
def test_invalid_request(case: dict[str, Any]) -> None:
    with pytest.raises(getattr(errors, case["error"])):
        StatusRequest.from_bytes(bytes.fromhex(case["frame"]))


@pytest.mark.parametrize("case", cases("valid"), ids=lambda c: c["name"])
def test_valid_status(case: dict[str, Any]) -> None:
    wire = bytes.fromhex(case["wire"])
    signed = verify_status(wire, nonce=bytes.fromhex(case["nonce"]))
    assert signed.peer_id == case["peer_id"]
    assert len(wire) == case["wire_size"] <= MAX_STATUS_BYTES
    report = signed.report
    fields = case["fields"]
    assert report.region == fields["region"]
    assert report.state.value == fields["state"]
    assert list(report.peers) == fields["peers"]
    assert report.peer_count == fields["peer_count"]
    assert [j.job_id.hex() for j in report.jobs] == [j["job_id"] for j in fields["jobs"]]
    assert [j.shards_done for j in report.jobs] == [j["shards_done"] for j in fields["jobs"]]
    # the payload decodes the same with plain msgpack, independently of the core codec
    payload = wire[97:]
    assert msgpack.unpackb(payload, raw=False) == unjson(case["payload_value"])
    # and the reference signer reproduces the wire byte for byte
    again = sign_status(Identity(bytes.fromhex(case["seed"])), report)
    assert again.wire == wire


@pytest.mark.parametrize("case", cases("invalid"), ids=lambda c: c["name"])
def test_invalid_status(case: dict[str, Any]) -> None:
    with pytest.raises(getattr(errors, case["error"])):
        verify_status(bytes.fromhex(case["wire"]), nonce=bytes.fromhex(case["nonce"]))


def test_wrong_signer_is_refused() -> None:
    case = cases("valid")[0]
    with pytest.raises(errors.SignatureError):
        verify_status(
            bytes.fromhex(case["wire"]),
            nonce=bytes.fromhex(case["nonce"]),
            signer=Identity(bytes(32)).public_key,
        )
