"""Check the core against protocol/vectors/*.json, the language-neutral test vectors.

Valid cases must decode to the stated values and re-encode byte for byte;
invalid cases must raise the named error class (or a subclass of it). Decoded
values are also checked with plain msgpack, independently of the core codec.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import msgpack
import pytest

from p2pfleet.core import codec, errors, limits
from p2pfleet.core.advert import (
    MAX_CLOCK_SKEW_MS,
    Advert,
    VehicleState,
    sign_advert,
    verify_advert,
)
from p2pfleet.core.envelope import HEADER_SIZE, Domain, open_envelope, seal, signing_input
from p2pfleet.core.identity import Identity, key_fingerprint, public_key_from_peer_id
from p2pfleet.core.manifest import (
    Manifest,
    ReplicationPolicy,
    ShardSpec,
    sign_manifest,
    verify_manifest,
)
from p2pfleet.core.peers import PeerTable
from p2pfleet.core.task_messages import (
    Abandon,
    Accept,
    Assign,
    Commit,
    ErrorMessage,
    Reject,
    RejectReason,
    Result,
    RevealRequest,
    TaskMessage,
    decode_message,
    encode_message,
    sign_abandon,
    sign_commit,
    sign_result,
)
from p2pfleet.core.tasks import _TRANSITIONS

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "protocol" / "vectors"


@cache
def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


def cases(name: str, kind: str) -> list[Any]:
    return [pytest.param(case, id=case["name"]) for case in load(name)[kind]]


def from_jsonish(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return bytes.fromhex(value["$bytes"])
        return {key: from_jsonish(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_jsonish(item) for item in value]
    return value


def same(a: Any, b: Any) -> bool:
    """Equality that also tells int from float and 0.0 from -0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return bool(a.hex() == b.hex())
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return set(a) == set(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def error_class(name: str) -> type[BaseException]:
    cls = getattr(errors, name)
    assert isinstance(cls, type) and issubclass(cls, errors.P2pFleetError)
    return cls


def independent_decode(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=True)


# -- the generator -------------------------------------------------------------


def test_vector_files_are_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_vectors.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def test_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    for path in VECTORS.glob("*.json"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    stale = tmp_path / "codec.json"
    stale.write_text(stale.read_text(encoding="utf-8").replace('"nil"', '"nul"', 1), "utf-8")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_vectors.py"), "--check", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "codec.json" in proc.stderr


def test_every_error_class_named_in_vectors_exists() -> None:
    for path in VECTORS.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        for key, value in data.items():
            if key.startswith("invalid"):
                for case in value:
                    error_class(case["error"])


# -- codec ---------------------------------------------------------------------


def test_limit_values_match_limits_module() -> None:
    for name, values in load("codec.json")["limits"].items():
        actual = getattr(limits, name)
        for field, value in values.items():
            assert getattr(actual, field) == value, (name, field)


@pytest.mark.parametrize("case", cases("codec.json", "valid"))
def test_codec_valid(case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["hex"])
    expected = from_jsonish(case["value"])
    decoded = codec.decode(data, getattr(limits, case["limits"]))
    assert same(decoded, expected)
    # independent check: plain msgpack agrees on the value ...
    assert same(independent_decode(data), expected)
    # ... and the canonical encoder reproduces the bytes
    assert codec.encode(expected) == data


@pytest.mark.parametrize("case", cases("codec.json", "invalid"))
def test_codec_invalid(case: dict[str, Any]) -> None:
    with pytest.raises(error_class(case["error"])):
        codec.decode(bytes.fromhex(case["hex"]), getattr(limits, case["limits"]))


# -- identity and envelopes ------------------------------------------------------


@pytest.mark.parametrize("case", cases("identity.json", "valid"))
def test_identity(case: dict[str, Any]) -> None:
    identity = Identity(bytes.fromhex(case["seed"]))
    public_key = bytes.fromhex(case["public_key"])
    assert identity.public_key == public_key
    assert identity.peer_id == case["peer_id"]
    assert public_key_from_peer_id(case["peer_id"]) == public_key
    assert key_fingerprint(public_key) == hashlib.sha256(public_key).hexdigest()[:16]
    assert case["fingerprint"] == key_fingerprint(public_key)


def test_envelope_signing_inputs() -> None:
    data = load("envelope.json")
    assert data["header_size"] == HEADER_SIZE == 97
    assert {case["domain"] for case in data["signing_inputs"]} == {d.value for d in Domain}
    for case in data["signing_inputs"]:
        tag = case["domain"].encode()
        payload = bytes.fromhex(case["payload"])
        expected = bytes.fromhex(case["signing_input"])
        assert expected == bytes([len(tag)]) + tag + payload  # every domain is < 128 bytes
        assert signing_input(Domain(case["domain"]), payload) == expected


@pytest.mark.parametrize("case", cases("envelope.json", "valid"))
def test_envelope_valid(case: dict[str, Any]) -> None:
    wire = bytes.fromhex(case["wire"])
    domain = Domain(case["domain"])
    envelope = open_envelope(wire, domain, max_size=len(wire))
    assert envelope.payload == bytes.fromhex(case["payload"])
    assert envelope.signer == bytes.fromhex(case["signer"])
    assert envelope.signature == bytes.fromhex(case["signature"])
    assert wire == b"\x01" + envelope.signer + envelope.signature + envelope.payload
    identity = Identity(bytes.fromhex(case["seed"]))
    assert seal(identity, domain, envelope.payload).to_bytes() == wire


@pytest.mark.parametrize("case", cases("envelope.json", "invalid"))
def test_envelope_invalid(case: dict[str, Any]) -> None:
    with pytest.raises(error_class(case["error"])):
        open_envelope(
            bytes.fromhex(case["wire"]), Domain(case["domain"]), max_size=case["max_size"]
        )


# -- adverts ---------------------------------------------------------------------


def advert_from_fields(fields: dict[str, Any]) -> Advert:
    return Advert(
        owner=bytes.fromhex(fields["owner"]),
        seq=fields["seq"],
        issued_at_ms=fields["issued_at_ms"],
        ttl_ms=fields["ttl_ms"],
        state=VehicleState(fields["state"]),
        battery_pct=fields["battery_pct"],
        departure_ms=fields["departure_ms"],
        tier_watts=fields["tier_watts"],
        free_slots=fields["free_slots"],
        energy_left_wh=fields["energy_left_wh"],
        models=tuple(bytes.fromhex(m) for m in fields["models"]),
        region=fields["region"],
        region_cert=None if fields["region_cert"] is None else bytes.fromhex(fields["region_cert"]),
        addrs=tuple(fields["addrs"]),
    )


@pytest.mark.parametrize("case", cases("advert.json", "valid"))
def test_advert_valid(case: dict[str, Any]) -> None:
    wire = bytes.fromhex(case["wire"])
    payload = bytes.fromhex(case["payload"])
    assert len(wire) == case["wire_size"] <= load("advert.json")["max_advert_bytes"]
    assert wire[HEADER_SIZE:] == payload
    signed = verify_advert(wire)
    expected = advert_from_fields(case["fields"])
    assert signed.advert == expected
    assert signed.peer_id == case["peer_id"]
    assert same(independent_decode(payload), from_jsonish(case["payload_value"]))
    assert expected.to_payload() == payload
    assert sign_advert(Identity(bytes.fromhex(case["seed"])), expected).wire == wire


@pytest.mark.parametrize("case", cases("advert.json", "invalid"))
def test_advert_invalid(case: dict[str, Any]) -> None:
    with pytest.raises(error_class(case["error"])):
        verify_advert(bytes.fromhex(case["wire"]))


def test_advert_receiver_sequence() -> None:
    data = load("advert.json")
    assert data["max_clock_skew_ms"] == MAX_CLOCK_SKEW_MS
    table = PeerTable()
    for step in data["receiver_sequence"]:
        verdict = table.offer(verify_advert(bytes.fromhex(step["wire"])), step["now_ms"])
        assert verdict.value == step["verdict"], step


# -- manifests -------------------------------------------------------------------


def manifest_from_fields(fields: dict[str, Any]) -> Manifest:
    rep = fields["replication"]
    return Manifest(
        submitter=bytes.fromhex(fields["submitter"]),
        nonce=bytes.fromhex(fields["nonce"]),
        created_at_ms=fields["created_at_ms"],
        deadline_ms=fields["deadline_ms"],
        task=fields["task"],
        model=bytes.fromhex(fields["model"]),
        runtime=fields["runtime"],
        runtime_settings=tuple(sorted(fields["runtime_settings"].items())),
        shards=tuple(
            ShardSpec(input_hash=bytes.fromhex(s["input_hash"]), items=s["items"])
            for s in fields["shards"]
        ),
        replication=ReplicationPolicy(
            name=rep["name"], replicas=rep["replicas"], max_replicas=rep["max_replicas"]
        ),
        regions=tuple(fields["regions"]),
    )


@pytest.mark.parametrize("case", cases("manifest.json", "valid"))
def test_manifest_valid(case: dict[str, Any]) -> None:
    wire = bytes.fromhex(case["wire"])
    payload = bytes.fromhex(case["payload"])
    assert wire[HEADER_SIZE:] == payload
    signed = verify_manifest(wire)
    expected = manifest_from_fields(case["fields"])
    assert signed.manifest == expected
    assert signed.job_id.hex() == case["job_id"] == hashlib.sha256(payload).hexdigest()
    assert same(independent_decode(payload), from_jsonish(case["payload_value"]))
    assert expected.to_payload() == payload
    assert sign_manifest(Identity(bytes.fromhex(case["seed"])), expected).wire == wire


@pytest.mark.parametrize("case", cases("manifest.json", "invalid"))
def test_manifest_invalid(case: dict[str, Any]) -> None:
    with pytest.raises(error_class(case["error"])):
        verify_manifest(bytes.fromhex(case["wire"]))


# -- task stream -------------------------------------------------------------------


def test_task_transition_table() -> None:
    data = load("task.json")
    table = {(t["state"], t["message"], t["sender"]): t["next"] for t in data["transitions"]}
    assert table == {
        (state.value, message.__name__, role.value): nxt.value
        for (state, message, role), nxt in _TRANSITIONS.items()
    }
    assert data["reject_reasons"] == [reason.value for reason in RejectReason]


@pytest.mark.parametrize("case", cases("task.json", "valid"))
def test_task_valid(case: dict[str, Any]) -> None:
    frame = bytes.fromhex(case["frame"])
    fields = case["fields"]
    message = decode_message(frame)
    assert type(message).__name__ == fields["type"]
    assert same(independent_decode(frame), from_jsonish(case["frame_value"]))
    assert encode_message(message) == frame
    raw = {k: v for k, v in fields.items() if k != "type"}
    match message:
        case Assign():
            rebuilt: TaskMessage = Assign(
                manifest_wire=bytes.fromhex(raw["manifest_wire"]),
                shard=raw["shard"],
                input_zstd=bytes.fromhex(raw["input_zstd"]),
            )
            verify_manifest(message.manifest_wire)
        case Accept():
            rebuilt = Accept(estimated_ms=raw["estimated_ms"])
        case Reject():
            rebuilt = Reject(reason=RejectReason(raw["reason"]), detail=raw["detail"])
        case RevealRequest():
            rebuilt = RevealRequest()
        case ErrorMessage():
            rebuilt = ErrorMessage(code=raw["code"], detail=raw["detail"])
        case Commit() | Result() | Abandon():
            identity = Identity(bytes.fromhex(case["seed"]))
            assert message.node_key == identity.public_key == bytes.fromhex(raw["node_key"])
            assert message.wire[HEADER_SIZE:] == bytes.fromhex(case["signed_payload"])
            assert same(
                independent_decode(message.wire[HEADER_SIZE:]),
                from_jsonish(case["signed_payload_value"]),
            )
            job, shard = bytes.fromhex(raw["job_id"]), raw["shard"]
            if isinstance(message, Commit):
                rebuilt = sign_commit(identity, job, shard, bytes.fromhex(raw["output_hash"]))
            elif isinstance(message, Result):
                output = message.output()  # decompresses and checks the signed hash
                assert hashlib.sha256(output).hexdigest() == raw["output_hash"]
                rebuilt = sign_result(
                    identity,
                    job,
                    shard,
                    output,
                    bytes.fromhex(raw["output_zstd"]),
                    raw["runtime_ms"],
                )
            else:
                rebuilt = sign_abandon(identity, job, shard, RejectReason(raw["reason"]))
    assert rebuilt == message
    assert encode_message(rebuilt) == frame


@pytest.mark.parametrize("case", cases("task.json", "invalid"))
def test_task_invalid(case: dict[str, Any]) -> None:
    with pytest.raises(error_class(case["error"])):
        decode_message(bytes.fromhex(case["frame"]))


@pytest.mark.parametrize("case", cases("task.json", "invalid_output"))
def test_task_invalid_output(case: dict[str, Any]) -> None:
    message = decode_message(bytes.fromhex(case["frame"]))
    assert isinstance(message, Result)
    with pytest.raises(error_class(case["error"])):
        message.output()
