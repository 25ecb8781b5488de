"""Availability adverts: what a vehicle tells the overlay about itself.

An advert is a signed envelope (domain `p2pfleet/advert/1`) whose payload is a
canonical msgpack map with short keys: about 580 bytes with 8 cached models
and 2 addresses, capped at MAX_ADVERT_BYTES (protocol/advert.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from p2pfleet.core import codec
from p2pfleet.core.envelope import Domain, open_envelope, seal
from p2pfleet.core.errors import DecodeError, LocalProtocolError
from p2pfleet.core.identity import Identity, peer_id_from_public_key
from p2pfleet.core.limits import (
    ADVERT_LIMITS,
    MAX_ADVERT_ADDRS,
    MAX_ADVERT_BYTES,
    MAX_ADVERT_MODELS,
)

ADVERT_VERSION = 1
MAX_TTL_MS = 3600_000
MAX_CLOCK_SKEW_MS = 120_000


class VehicleState(StrEnum):
    PARKED = "parked"
    CHARGING = "charging"
    DRIVING = "driving"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True, kw_only=True)
class Advert:
    """One node's availability at `issued_at_ms`, valid for `ttl_ms`."""

    owner: bytes  # owner public key (32 bytes); one owner may run many vehicles
    seq: int
    issued_at_ms: int
    ttl_ms: int
    state: VehicleState
    battery_pct: int
    departure_ms: int | None  # predicted departure (unix ms), None if unknown
    tier_watts: int  # compute tier: sustained power of the onboard AI computer
    free_slots: int
    energy_left_wh: int  # owner's energy budget left today
    models: tuple[bytes, ...] = ()  # SHA-256 of cached model files
    region: str = ""
    region_cert: bytes | None = None
    addrs: tuple[str, ...] = ()  # listen multiaddrs (without /p2p/)

    def __post_init__(self) -> None:
        if len(self.owner) != 32:
            raise ValueError("owner must be a 32-byte public key")
        if not 0 <= self.battery_pct <= 100:
            raise ValueError("battery_pct must be within 0..100")
        if not 0 < self.ttl_ms <= MAX_TTL_MS:
            raise ValueError(f"ttl_ms must be within 1..{MAX_TTL_MS}")
        if len(self.models) > MAX_ADVERT_MODELS or any(len(m) != 32 for m in self.models):
            raise ValueError(f"models: at most {MAX_ADVERT_MODELS} SHA-256 digests")
        if len(self.addrs) > MAX_ADVERT_ADDRS:
            raise ValueError(f"addrs: at most {MAX_ADVERT_ADDRS} addresses")
        if self.seq < 0 or self.free_slots < 0 or self.tier_watts < 0 or self.energy_left_wh < 0:
            raise ValueError("seq, free_slots, tier_watts and energy_left_wh are non-negative")

    @property
    def expires_at_ms(self) -> int:
        return self.issued_at_ms + self.ttl_ms

    @property
    def accepts_work(self) -> bool:
        return self.state in (VehicleState.PARKED, VehicleState.CHARGING) and self.free_slots > 0

    def to_payload(self) -> bytes:
        return codec.encode(
            {
                "v": ADVERT_VERSION,
                "own": self.owner,
                "seq": self.seq,
                "at": self.issued_at_ms,
                "ttl": self.ttl_ms,
                "st": self.state.value,
                "bat": self.battery_pct,
                "dep": self.departure_ms,
                "tier": self.tier_watts,
                "slots": self.free_slots,
                "ewh": self.energy_left_wh,
                "mdl": list(self.models),
                "reg": self.region,
                "cert": self.region_cert,
                "addr": list(self.addrs),
            }
        )

    @classmethod
    def from_payload(cls, payload: bytes) -> Advert:
        doc = codec.as_map(codec.decode(payload, ADVERT_LIMITS), "advert")
        if codec.field_int(doc, "v") != ADVERT_VERSION:
            raise DecodeError(f"advert version {doc.get('v')!r} is not supported")
        models = codec.field_list(doc, "mdl", max_len=MAX_ADVERT_MODELS)
        addrs = codec.field_list(doc, "addr", max_len=MAX_ADVERT_ADDRS)
        if not all(isinstance(m, bytes) and len(m) == 32 for m in models):
            raise DecodeError("advert models must be 32-byte digests")
        if not all(isinstance(a, str) and len(a) <= 96 for a in addrs):
            raise DecodeError("advert addresses must be strings of at most 96 characters")
        try:
            return cls(
                owner=codec.field_bytes(doc, "own", size=32),
                seq=codec.field_int(doc, "seq", low=0),
                issued_at_ms=codec.field_int(doc, "at", low=0),
                ttl_ms=codec.field_int(doc, "ttl", low=1, high=MAX_TTL_MS),
                state=VehicleState(codec.field_choice(doc, "st", [s.value for s in VehicleState])),
                battery_pct=codec.field_int(doc, "bat", low=0, high=100),
                departure_ms=codec.field_opt_int(doc, "dep", low=0),
                tier_watts=codec.field_int(doc, "tier", low=0, high=100_000),
                free_slots=codec.field_int(doc, "slots", low=0, high=1024),
                energy_left_wh=codec.field_int(doc, "ewh", low=0),
                models=tuple(m for m in models if isinstance(m, bytes)),
                region=codec.field_str(doc, "reg", max_len=64),
                region_cert=codec.field_opt_bytes(doc, "cert", max_len=256),
                addrs=tuple(a for a in addrs if isinstance(a, str)),
            )
        except ValueError as exc:
            raise DecodeError(f"invalid advert: {exc}") from exc


@dataclass(frozen=True, slots=True)
class SignedAdvert:
    """An advert whose envelope verified; `peer_id` is derived from the signer key."""

    advert: Advert
    node_key: bytes
    wire: bytes

    @property
    def peer_id(self) -> str:
        return peer_id_from_public_key(self.node_key)


def sign_advert(identity: Identity, advert: Advert) -> SignedAdvert:
    envelope = seal(identity, Domain.ADVERT, advert.to_payload())
    wire = envelope.to_bytes()
    if len(wire) > MAX_ADVERT_BYTES:  # receivers would drop it: refuse to publish it
        raise LocalProtocolError(
            f"advert envelope is {len(wire)} bytes, over the {MAX_ADVERT_BYTES}-byte limit"
        )
    return SignedAdvert(advert, identity.public_key, wire)


def verify_advert(wire: bytes) -> SignedAdvert:
    """Verify the signature, then decode. Raises a `RemoteProtocolError` subclass."""
    envelope = open_envelope(wire, Domain.ADVERT, max_size=MAX_ADVERT_BYTES)
    return SignedAdvert(Advert.from_payload(envelope.payload), envelope.signer, wire)
