"""Test vectors for protocol/region-cert.md (registered in tools/gen_vectors.py)."""

from __future__ import annotations

from typing import Any

from p2pfleet.core import codec
from p2pfleet.core.envelope import Domain, seal
from p2pfleet.core.identity import Identity
from p2pfleet.core.region_cert import (
    MAX_REGION_CERT_BYTES,
    RegionCert,
    RegionCertError,
    check_region_cert,
    issue_region_cert,
)

AUTHORITY = Identity(bytes(range(96, 128)))
NODE = Identity(bytes(range(32)))
FORGER = Identity(b"\xee" * 32)
NOT_BEFORE_S = 1_795_000_000
NOT_AFTER_S = 1_802_776_000  # 90 days later
NOW_S = 1_795_000_000 + 86_400


def _cert(region: str = "eu-west-paris") -> RegionCert:
    return RegionCert(
        node_key=NODE.public_key, region=region, not_before_s=NOT_BEFORE_S, not_after_s=NOT_AFTER_S
    )


def _check_error(wire: bytes, **changes: Any) -> str:
    kwargs: dict[str, Any] = {
        "node_key": NODE.public_key,
        "region": "eu-west-paris",
        "trusted": {AUTHORITY.public_key},
        "now_s": NOW_S,
    }
    kwargs.update(changes)
    try:
        check_region_cert(wire, **kwargs)
    except RegionCertError as exc:  # name the root cause class (conventions.md error rule)
        cause = exc.__cause__
        return type(cause).__name__ if cause is not None else "RemoteProtocolError"
    raise AssertionError("expected the check to fail")


def region_cert_vectors() -> dict[str, Any]:
    valid = []
    for region in ("eu-west-paris", "us"):
        signed = issue_region_cert(AUTHORITY, _cert(region))
        valid.append(
            {
                "name": f"region-{region}",
                "wire": signed.wire.hex(),
                "payload": signed.cert.to_payload().hex(),
                "size": len(signed.wire),
                "fields": {
                    "authority": AUTHORITY.public_key.hex(),
                    "node_key": NODE.public_key.hex(),
                    "region": region,
                    "not_before_s": NOT_BEFORE_S,
                    "not_after_s": NOT_AFTER_S,
                },
            }
        )
    good = issue_region_cert(AUTHORITY, _cert()).wire
    extra_key = codec.encode({"v": 1, "n": NODE.public_key, "r": "eu", "nb": 1, "na": 2, "x": 0})
    refused: list[tuple[str, bytes, dict[str, Any]]] = [
        ("expired", good, {"now_s": NOT_AFTER_S}),
        ("not yet valid", good, {"now_s": NOT_BEFORE_S - 1}),
        ("untrusted authority", issue_region_cert(FORGER, _cert()).wire, {}),
        ("another node", good, {"node_key": FORGER.public_key}),
        ("another region", good, {"region": "us"}),
        ("flipped signature bit", good[:40] + bytes([good[40] ^ 1]) + good[41:], {}),
        ("advert domain", seal(AUTHORITY, Domain.ADVERT, _cert().to_payload()).to_bytes(), {}),
        ("unknown key", seal(AUTHORITY, Domain.REGION_CERT, extra_key).to_bytes(), {}),
        ("oversize", seal(AUTHORITY, Domain.REGION_CERT, b"\xc0" * 200).to_bytes(), {}),
    ]
    invalid = [
        {
            "why": why,
            "wire": wire.hex(),
            "check": {
                "node_key": changes.get("node_key", NODE.public_key).hex(),
                "region": changes.get("region", "eu-west-paris"),
                "trusted": [AUTHORITY.public_key.hex()],
                "now_s": changes.get("now_s", NOW_S),
            },
            "error": _check_error(wire, **changes),
        }
        for why, wire, changes in refused
    ]
    return {
        "domain": Domain.REGION_CERT.value,
        "max_bytes": MAX_REGION_CERT_BYTES,
        "check_now_s": NOW_S,
        "valid": valid,
        "invalid": invalid,
    }
