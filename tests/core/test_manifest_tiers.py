"""Manifest tiers: the signed policy and task fix the comparator every party applies."""

from __future__ import annotations

import pytest

from p2pfleet.core import codec
from p2pfleet.core.envelope import HEADER_SIZE, Domain, seal
from p2pfleet.core.errors import DecodeError
from p2pfleet.core.limits import CONTROL_LIMITS
from p2pfleet.core.manifest import (
    EXACT_POLICY,
    TOLERANT_POLICY,
    ReplicationPolicy,
    sign_manifest,
    verify_manifest,
)

from .factories import identity, manifest

SUBMITTER = identity(11)


@pytest.mark.parametrize(
    ("task", "policy", "comparator"),
    [
        ("classify-image", EXACT_POLICY, "exact"),
        ("embed-text", EXACT_POLICY, "exact"),
        ("classify-image", TOLERANT_POLICY, "classification"),
        ("embed-text", TOLERANT_POLICY, "embeddings"),
    ],
)
def test_policy_and_task_survive_the_wire_and_name_the_comparator(
    task: str, policy: str, comparator: str
) -> None:
    original = manifest(
        SUBMITTER, task=task, replication=ReplicationPolicy(name=policy, replicas=2)
    )
    decoded = verify_manifest(sign_manifest(SUBMITTER, original).wire).manifest
    assert decoded == original
    assert decoded.comparator == comparator
    assert decoded.tolerant is (policy == TOLERANT_POLICY)


def test_the_tier_is_signed_so_changing_it_changes_the_job() -> None:
    exact = sign_manifest(SUBMITTER, manifest(SUBMITTER))
    tolerant = sign_manifest(
        SUBMITTER, manifest(SUBMITTER, replication=ReplicationPolicy(name=TOLERANT_POLICY))
    )
    assert exact.job_id != tolerant.job_id


@pytest.mark.parametrize(("key", "value"), [("task", "embed-image"), ("rep", "majority")])
def test_unknown_task_or_policy_is_refused(key: str, value: str) -> None:
    wire = sign_manifest(SUBMITTER, manifest(SUBMITTER)).wire
    payload = dict(codec.as_map(codec.decode(wire[HEADER_SIZE:], CONTROL_LIMITS), "manifest"))
    if key == "rep":
        payload["rep"] = dict(codec.as_map(payload["rep"], "rep"), p=value)
    else:
        payload[key] = value
    forged = seal(SUBMITTER, Domain.MANIFEST, codec.encode(payload)).to_bytes()
    with pytest.raises(DecodeError):
        verify_manifest(forged)


def test_constructing_an_unknown_policy_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="policy"):
        manifest(SUBMITTER, replication=ReplicationPolicy(name="majority"))
