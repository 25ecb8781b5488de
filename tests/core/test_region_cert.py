"""Region certificates: issue, check, and every way one is refused."""

from __future__ import annotations

import pytest

from p2pfleet.core.envelope import Domain, seal
from p2pfleet.core.errors import RemoteProtocolError
from p2pfleet.core.identity import Identity
from p2pfleet.core.region_cert import (
    RegionCert,
    RegionCertError,
    check_region_cert,
    issue_region_cert,
    open_region_cert,
)

AUTHORITY = Identity(b"\x0a" * 32)
ROGUE = Identity(b"\x0b" * 32)
NODE = Identity(b"\x0c" * 32)
OTHER = Identity(b"\x0d" * 32)
NOW = 1_800_000_000


def cert(**changes: object) -> RegionCert:
    fields: dict[str, object] = {
        "node_key": NODE.public_key,
        "region": "eu-west-1",
        "not_before_s": NOW - 3600,
        "not_after_s": NOW + 86400,
    }
    fields.update(changes)
    return RegionCert(**fields)  # type: ignore[arg-type]


def check(wire: bytes, **changes: object) -> object:
    kwargs: dict[str, object] = {
        "node_key": NODE.public_key,
        "region": "eu-west-1",
        "trusted": {AUTHORITY.public_key},
        "now_s": NOW,
    }
    kwargs.update(changes)
    return check_region_cert(wire, **kwargs)  # type: ignore[arg-type]


def test_a_valid_certificate_is_small_and_round_trips() -> None:
    signed = issue_region_cert(AUTHORITY, cert())
    assert len(signed.wire) <= 170  # rides in the advert's 256-byte cert field
    opened = open_region_cert(signed.wire)
    assert opened.cert == cert() and opened.authority == AUTHORITY.public_key
    check(signed.wire)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"now_s": NOW + 86400}, "expired"),
        ({"now_s": NOW - 7200}, "not valid yet"),
        ({"trusted": {ROGUE.public_key}}, "does not trust"),
        ({"node_key": OTHER.public_key}, "another node"),
        ({"region": "us-east-1"}, "advert says"),
    ],
)
def test_refusals_name_the_failed_check(changes: dict[str, object], message: str) -> None:
    wire = issue_region_cert(AUTHORITY, cert()).wire
    with pytest.raises(RegionCertError, match=message):
        check(wire, **changes)


def test_a_forged_certificate_is_refused() -> None:
    forged = issue_region_cert(ROGUE, cert()).wire
    with pytest.raises(RegionCertError, match="does not trust"):
        check(forged)
    tampered = bytearray(issue_region_cert(AUTHORITY, cert()).wire)
    tampered[-3] ^= 0x01
    with pytest.raises(RegionCertError):
        check(bytes(tampered))
    other_domain = seal(AUTHORITY, Domain.ADVERT, cert().to_payload()).to_bytes()
    with pytest.raises(RegionCertError):
        check(other_domain)


def test_non_canonical_or_oversized_payloads_are_refused() -> None:
    from p2pfleet.core import codec

    doc = {"v": 1, "n": NODE.public_key, "r": "eu", "nb": 1, "na": 2, "x": 1}
    wire = seal(AUTHORITY, Domain.REGION_CERT, codec.encode(doc)).to_bytes()
    with pytest.raises(RemoteProtocolError):
        open_region_cert(wire)
    huge = seal(AUTHORITY, Domain.REGION_CERT, b"\x00" * 300).to_bytes()
    with pytest.raises(RemoteProtocolError):
        open_region_cert(huge)
    with pytest.raises(ValueError):
        RegionCert(node_key=NODE.public_key, region="", not_before_s=1, not_after_s=2)
    with pytest.raises(ValueError):
        RegionCert(node_key=NODE.public_key, region="eu", not_before_s=5, not_after_s=5)
