"""protocol/vectors/region-cert.json: every valid certificate checks, every invalid one is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from p2pfleet.core.region_cert import RegionCertError, check_region_cert, open_region_cert

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "protocol" / "vectors" / "region-cert.json").read_text()
)


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: c["name"])
def test_valid(case: dict[str, Any]) -> None:
    wire = bytes.fromhex(case["wire"])
    fields = case["fields"]
    assert len(wire) == case["size"] <= VECTORS["max_bytes"]
    signed = check_region_cert(
        wire,
        node_key=bytes.fromhex(fields["node_key"]),
        region=fields["region"],
        trusted={bytes.fromhex(fields["authority"])},
        now_s=VECTORS["check_now_s"],
    )
    assert signed.cert.to_payload().hex() == case["payload"]
    assert open_region_cert(wire).authority.hex() == fields["authority"]
    assert (signed.cert.not_before_s, signed.cert.not_after_s) == (
        fields["not_before_s"],
        fields["not_after_s"],
    )


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["why"])
def test_invalid(case: dict[str, Any]) -> None:
    check = case["check"]
    assert case["error"] in (
        "RemoteProtocolError",
        "DecodeError",
        "SignatureError",
        "LimitExceededError",
    )
    with pytest.raises(RegionCertError):  # a RemoteProtocolError wrapping the root cause
        check_region_cert(
            bytes.fromhex(case["wire"]),
            node_key=bytes.fromhex(check["node_key"]),
            region=check["region"],
            trusted={bytes.fromhex(k) for k in check["trusted"]},
            now_s=check["now_s"],
        )
