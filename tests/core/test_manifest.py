"""Manifests: job_id stability, tamper detection, signer = submitter."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pfleet.core import codec
from p2pfleet.core.envelope import HEADER_SIZE, Domain, seal
from p2pfleet.core.errors import DecodeError, RemoteProtocolError, SignatureError
from p2pfleet.core.limits import CONTROL_LIMITS, MAX_SHARDS
from p2pfleet.core.manifest import (
    ReplicationPolicy,
    ShardSpec,
    job_id_of,
    sign_manifest,
    verify_manifest,
)

from .factories import digest, identity, manifest

SUBMITTER = identity(7)


def test_job_id_is_sha256_of_the_signed_payload() -> None:
    signed = sign_manifest(SUBMITTER, manifest(SUBMITTER))
    payload = signed.wire[HEADER_SIZE:]
    assert signed.job_id == hashlib.sha256(payload).digest() == job_id_of(payload)
    assert verify_manifest(signed.wire).job_id == signed.job_id


def test_job_id_is_stable() -> None:
    a = sign_manifest(SUBMITTER, manifest(SUBMITTER))
    b = sign_manifest(SUBMITTER, manifest(SUBMITTER))
    assert a.job_id == b.job_id and a.wire == b.wire
    # settings order does not matter: the payload is canonical
    c = manifest(SUBMITTER, runtime_settings=(("b", "2"), ("a", "1")))
    d = manifest(SUBMITTER, runtime_settings=(("a", "1"), ("b", "2")))
    assert c.to_payload() == d.to_payload()


@pytest.mark.parametrize(
    "changes",
    [
        {"nonce": b"\x02" * 16},
        {"created_at_ms": 1},
        {"deadline_ms": 1_795_000_600_001},
        {"model": digest("other model")},
        {"runtime": "other"},
        {"runtime_settings": (("threads", "2"),)},
        {"shards": (ShardSpec(input_hash=digest("in-1"), items=4),)},
        {"shards": (ShardSpec(input_hash=digest("in-0"), items=5),)},
        {"replication": ReplicationPolicy(replicas=3, max_replicas=4)},
        {"replication": ReplicationPolicy(replicas=2, max_replicas=5)},
        {"regions": ("eu-west",)},
    ],
)
def test_every_field_changes_the_job_id(changes: dict[str, object]) -> None:
    base = sign_manifest(SUBMITTER, manifest(SUBMITTER)).job_id
    assert sign_manifest(SUBMITTER, manifest(SUBMITTER, **changes)).job_id != base


@given(st.integers(min_value=0))
@settings(max_examples=200)
def test_any_tampering_is_detected(where: int) -> None:
    wire = bytearray(sign_manifest(SUBMITTER, manifest(SUBMITTER)).wire)
    index = where % (len(wire) * 8)
    wire[index // 8] ^= 1 << (index % 8)
    with pytest.raises(RemoteProtocolError):
        verify_manifest(bytes(wire))


def test_signer_must_be_submitter() -> None:
    with pytest.raises(ValueError):
        sign_manifest(identity(8), manifest(SUBMITTER))
    forged = seal(identity(8), Domain.MANIFEST, manifest(SUBMITTER).to_payload()).to_bytes()
    with pytest.raises(DecodeError, match="submitter"):
        verify_manifest(forged)


def test_wrong_domain() -> None:
    wire = seal(SUBMITTER, Domain.ADVERT, manifest(SUBMITTER).to_payload()).to_bytes()
    with pytest.raises(SignatureError):
        verify_manifest(wire)


def test_keys_outside_the_schema_are_refused() -> None:
    doc = codec.decode(manifest(SUBMITTER).to_payload(), CONTROL_LIMITS)
    assert isinstance(doc, dict)
    for extra in ({"extra": 1}, {"rep": {**doc["rep"], "x": 1}}):  # type: ignore[dict-item]
        wire = seal(SUBMITTER, Domain.MANIFEST, codec.encode({**doc, **extra})).to_bytes()
        with pytest.raises(DecodeError):
            verify_manifest(wire)


def test_replication_policy_bounds() -> None:
    with pytest.raises(ValueError):
        manifest(SUBMITTER, replication=ReplicationPolicy(replicas=3, max_replicas=2))
    with pytest.raises(ValueError):
        manifest(SUBMITTER, replication=ReplicationPolicy(replicas=0, max_replicas=2))
    with pytest.raises(ValueError):
        manifest(SUBMITTER, replication=ReplicationPolicy(replicas=2, max_replicas=17))
    with pytest.raises(ValueError):
        manifest(SUBMITTER, shards=())
    with pytest.raises(ValueError):
        manifest(SUBMITTER, deadline_ms=1_795_000_000_000)


def test_max_shards_fits_the_control_limits() -> None:
    shards = tuple(ShardSpec(input_hash=digest(str(i)), items=1) for i in range(MAX_SHARDS))
    big = manifest(SUBMITTER, shards=shards)
    signed = sign_manifest(SUBMITTER, big)
    assert verify_manifest(signed.wire).manifest == big
    assert dataclasses.replace(big, shards=shards[:1]) != big
