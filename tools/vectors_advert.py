"""Test vectors for protocol/advert.md (`protocol/vectors/advert.json`).

Registered in tools/gen_vectors.py, which writes and checks the files. Same
fixed inputs as there (seeds, T0), so the node's peer id matches the other
vector files.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgpack
from vector_checks import expect_error, jsonish

from p2pfleet.core import codec
from p2pfleet.core.advert import (
    ADVERT_BUDGET_BYTES,
    MAX_CLOCK_SKEW_MS,
    MODEL_ID_SIZE,
    Advert,
    VehicleState,
    sign_advert,
    verify_advert,
)
from p2pfleet.core.envelope import Domain, seal
from p2pfleet.core.identity import Identity
from p2pfleet.core.limits import ADVERT_LIMITS, MAX_ADVERT_BYTES

NODE = Identity(bytes(range(32)))
OWNER = Identity(bytes(range(32, 64)))
FORGER = Identity(bytes([0xEE] * 32))
RELAY = Identity(bytes([0x52] * 32))
T0 = 1_795_000_000_000  # 2026-11-18T11:06:40Z, unix milliseconds
CIRCUIT = f"/ip4/198.51.100.7/tcp/4001/p2p/{RELAY.peer_id}/p2p-circuit"


def reference_advert(**changes: Any) -> Advert:
    fields: dict[str, Any] = {
        "owner": OWNER.public_key,
        "seq": 42,
        "issued_at_ms": T0,
        "ttl_ms": 60_000,
        "state": VehicleState.CHARGING,
        "battery_pct": 80,
        "departure_ms": T0 + 8 * 3_600_000,
        "tier_watts": 275,
        "free_slots": 2,
        "energy_left_wh": 4000,
        "models": tuple(hashlib.sha256(b"model-%d" % i).digest() for i in range(8)),
        "region": "eu-west-paris",
        "region_cert": None,
        "addrs": ("/ip4/203.0.113.77/tcp/40001", "/ip6/2001:db8::77/tcp/40001"),
    }
    fields.update(changes)
    return Advert(**fields)


def worst_realistic_advert(**changes: Any) -> Advert:
    """The size budget's case: 8 models, 4 addresses with a circuit one, a 150-byte cert."""
    addrs = (
        "/ip4/203.0.113.77/tcp/40001",
        "/ip6/2001:db8:85a3::8a2e:370:7334/tcp/40001",
        "/ip6/2001:db8::77/tcp/40001",
        CIRCUIT,
    )
    fields: dict[str, Any] = {"seq": T0 + 1, "addrs": addrs, "region_cert": bytes(range(150))}
    return reference_advert(**{**fields, **changes})


def advert_fields(advert: Advert) -> dict[str, Any]:
    return {
        "owner": advert.owner.hex(),
        "seq": advert.seq,
        "issued_at_ms": advert.issued_at_ms,
        "ttl_ms": advert.ttl_ms,
        "state": advert.state.value,
        "battery_pct": advert.battery_pct,
        "departure_ms": advert.departure_ms,
        "tier_watts": advert.tier_watts,
        "free_slots": advert.free_slots,
        "energy_left_wh": advert.energy_left_wh,
        "models": [m.hex() for m in advert.models],
        "region": advert.region,
        "region_cert": None if advert.region_cert is None else advert.region_cert.hex(),
        "addrs": list(advert.addrs),
    }


def advert_vectors() -> dict[str, Any]:
    cases = [
        ("reference-8-models-2-addrs-region", reference_advert()),
        ("budget-8-models-4-addrs-circuit-cert150", worst_realistic_advert()),
        (
            "minimal",
            reference_advert(
                models=(), addrs=(), region="", departure_ms=None, state=VehicleState.PARKED, seq=0
            ),
        ),
        (
            "driving-with-region-cert",
            reference_advert(
                state=VehicleState.DRIVING, free_slots=0, region_cert=bytes(range(96)), models=()
            ),
        ),
    ]
    valid = []
    for name, advert in cases:
        signed = sign_advert(NODE, advert)
        valid.append(
            {
                "name": name,
                "seed": NODE.seed.hex(),
                "wire": signed.wire.hex(),
                "payload": advert.to_payload().hex(),
                "wire_size": len(signed.wire),
                "peer_id": signed.peer_id,
                "payload_value": jsonish(codec.decode(advert.to_payload(), ADVERT_LIMITS)),
                "fields": advert_fields(advert),
            }
        )
    return {
        "title": "availability advert",
        "spec": "advert.md",
        "generated_by": "tools/gen_vectors.py (tools/vectors_advert.py)",
        "bytes_encoding": 'byte strings in decoded values are {"$bytes": "<hex>"}',
        "max_advert_bytes": MAX_ADVERT_BYTES,
        "advert_budget_bytes": ADVERT_BUDGET_BYTES,
        "model_id_size": MODEL_ID_SIZE,
        "max_clock_skew_ms": MAX_CLOCK_SKEW_MS,
        "valid": valid,
        "invalid": _invalid_cases(),
        "receiver_sequence": _receiver_sequence(),
    }


def _invalid_cases() -> list[dict[str, str]]:
    good = sign_advert(NODE, reference_advert())
    forged = bytes([good.wire[0]]) + FORGER.public_key + good.wire[33:]
    payload = reference_advert().to_payload()
    items: list[Any] = msgpack.unpackb(payload, raw=False)

    def sealed(document: Any) -> bytes:
        return seal(NODE, Domain.ADVERT, codec.encode(document)).to_bytes()

    def with_item(index: int, value: Any) -> list[Any]:
        return [*items[:index], value, *items[index + 1 :]]

    oversize = worst_realistic_advert(
        addrs=tuple("/dns4/" + "a" * 117 + f"{i}/tcp/1" for i in range(4)),
        region_cert=bytes(256),
        region="r" * 64,
    )
    cases = [
        ("forged-signer-key", forged, "SignatureError", "signer key replaced by the forger's"),
        (
            "signed-as-manifest",
            seal(NODE, Domain.MANIFEST, payload).to_bytes(),
            "SignatureError",
            "payload signed under p2pfleet/manifest/1",
        ),
        (
            "oversize-envelope",
            seal(NODE, Domain.ADVERT, oversize.to_payload()).to_bytes(),
            "LimitExceededError",
            "envelope longer than MAX_ADVERT_BYTES",
        ),
        ("battery-over-100", sealed(with_item(6, 101)), "DecodeError", "battery is 0..100"),
        ("ttl-zero", sealed(with_item(4, 0)), "DecodeError", "ttl is 1..3600000"),
        ("ttl-over-max", sealed(with_item(4, 3_600_001)), "DecodeError", "ttl is 1..3600000"),
        ("unknown-state", sealed(with_item(5, 4)), "DecodeError", "state is 0..3"),
        ("version-1", sealed(with_item(0, 1)), "DecodeError", "only version 2 is defined"),
        ("owner-31-bytes", sealed(with_item(1, bytes(31))), "DecodeError", "owner is 32 bytes"),
        (
            "model-ids-not-multiple",
            sealed(with_item(11, bytes(MODEL_ID_SIZE + 1))),
            "DecodeError",
            "model ids are MODEL_ID_SIZE bytes each",
        ),
        (
            "nine-models",
            sealed(with_item(11, bytes(9 * MODEL_ID_SIZE))),
            "DecodeError",
            "at most MAX_ADVERT_MODELS models",
        ),
        (
            "five-addrs",
            sealed(with_item(13, [bytes.fromhex("047f000001060001")] * 5)),
            "DecodeError",
            "at most MAX_ADVERT_ADDRS addresses",
        ),
        (
            "addr-unknown-protocol",
            sealed(with_item(13, [bytes.fromhex("9102")])),
            "DecodeError",
            "udp (273) is not an advert protocol",
        ),
        (
            "addr-truncated",
            sealed(with_item(13, [bytes.fromhex("047f00")])),
            "DecodeError",
            "ip4 value cut short",
        ),
        ("addr-as-text", sealed(with_item(13, ["/ip4/1.2.3.4/tcp/1"])), "DecodeError", "bin"),
        ("too-few-fields", sealed(items[:13]), "DecodeError", "14 positional fields required"),
        (
            "payload-not-canonical",
            seal(NODE, Domain.ADVERT, payload[:1] + b"\xcc\x02" + payload[2:]).to_bytes(),
            "DecodeError",
            "version 2 written as a uint8 instead of a fixint",
        ),
        ("payload-a-map", sealed({"v": 2}), "DecodeError", "payload is a map, not an array"),
    ]
    out = []
    for name, wire, error, why in cases:
        expect_error(lambda w=wire: verify_advert(w), error, name)  # type: ignore[misc]
        out.append({"name": name, "wire": wire.hex(), "error": error, "why": why})
    return out


def _receiver_sequence() -> list[dict[str, Any]]:
    """Offer these, in order, to one empty peer table."""

    def at(seq: int, issued: int, ttl: int = 60_000) -> str:
        advert = reference_advert(seq=seq, issued_at_ms=issued, ttl_ms=ttl)
        return sign_advert(NODE, advert).wire.hex()

    skew = MAX_CLOCK_SKEW_MS
    return [
        {"wire": at(42, T0), "now_ms": T0 + 1_000, "verdict": "accepted"},
        {"wire": at(42, T0), "now_ms": T0 + 2_000, "verdict": "replayed"},
        {"wire": at(41, T0 + 1_500), "now_ms": T0 + 2_000, "verdict": "replayed"},
        {"wire": at(43, T0 + 10_000 + skew + 1), "now_ms": T0 + 10_000, "verdict": "from-future"},
        {"wire": at(44, T0 + 10_000 + skew), "now_ms": T0 + 10_000, "verdict": "accepted"},
        {"wire": at(45, T0, ttl=20_000), "now_ms": T0 + 20_000, "verdict": "expired"},
        {"wire": at(45, T0 + 19_000, ttl=20_000), "now_ms": T0 + 20_000, "verdict": "accepted"},
    ]
