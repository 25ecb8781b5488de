"""Availability adverts: what a vehicle tells the overlay about itself.

An advert is a signed envelope (domain `p2pfleet/advert/1`) whose payload is a
canonical msgpack array of positional fields, model ids as 8-byte hash prefixes
and binary multiaddrs: 400 bytes with 8 cached models and 2 addresses, at most
512 with 4 addresses and a 150-byte region certificate (protocol/advert.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from p2pfleet.core import codec
from p2pfleet.core.addrcodec import decode_addr, encode_addr
from p2pfleet.core.envelope import Domain, open_envelope, seal
from p2pfleet.core.errors import DecodeError, LocalProtocolError
from p2pfleet.core.identity import Identity, peer_id_from_public_key
from p2pfleet.core.limits import (
    ADVERT_LIMITS,
    MAX_ADVERT_ADDRS,
    MAX_ADVERT_BYTES,
    MAX_ADVERT_MODELS,
)

ADVERT_VERSION = 2
#: Adverts name a cached model by the first MODEL_ID_SIZE bytes of its SHA-256:
#: a scheduling hint only, the fetch protocol always checks the full hash.
MODEL_ID_SIZE = 8
#: The size an advert SHOULD stay within (8 models, 4 addresses, a 150-byte cert).
ADVERT_BUDGET_BYTES = 512
MAX_REGION_CERT = 256
MAX_TTL_MS = 3600_000
MAX_CLOCK_SKEW_MS = 120_000


class VehicleState(StrEnum):
    PARKED = "parked"
    CHARGING = "charging"
    DRIVING = "driving"
    OFFLINE = "offline"


# Wire codes of VehicleState (the `x` field): never renumber.
_STATE_CODES = {
    VehicleState.PARKED: 0,
    VehicleState.CHARGING: 1,
    VehicleState.DRIVING: 2,
    VehicleState.OFFLINE: 3,
}
_STATES_BY_CODE = {code: state for state, code in _STATE_CODES.items()}


def model_id(digest: bytes) -> bytes:
    """The advert's short id of a model: the first MODEL_ID_SIZE bytes of its SHA-256."""
    if len(digest) not in (32, MODEL_ID_SIZE):
        raise ValueError(f"a model is named by its 32-byte SHA-256, got {len(digest)} bytes")
    return digest[:MODEL_ID_SIZE]


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
    # Cached models: give SHA-256 digests (or ids); kept as MODEL_ID_SIZE-byte ids.
    models: tuple[bytes, ...] = ()
    region: str = ""
    region_cert: bytes | None = None
    addrs: tuple[str, ...] = ()  # reachable multiaddrs, without this node's /p2p/ suffix

    def __post_init__(self) -> None:
        if len(self.owner) != 32:
            raise ValueError("owner must be a 32-byte public key")
        if not 0 <= self.battery_pct <= 100:
            raise ValueError("battery_pct must be within 0..100")
        if not 0 < self.ttl_ms <= MAX_TTL_MS:
            raise ValueError(f"ttl_ms must be within 1..{MAX_TTL_MS}")
        if len(self.models) > MAX_ADVERT_MODELS:
            raise ValueError(f"models: at most {MAX_ADVERT_MODELS} SHA-256 digests")
        object.__setattr__(self, "models", tuple(model_id(m) for m in self.models))
        if len(self.addrs) > MAX_ADVERT_ADDRS:
            raise ValueError(f"addrs: at most {MAX_ADVERT_ADDRS} addresses")
        for addr in self.addrs:
            encode_addr(addr)  # ValueError if it cannot go on the wire
        if self.region_cert is not None and len(self.region_cert) > MAX_REGION_CERT:
            raise ValueError(f"region_cert: at most {MAX_REGION_CERT} bytes")
        if self.seq < 0 or self.free_slots < 0 or self.tier_watts < 0 or self.energy_left_wh < 0:
            raise ValueError("seq, free_slots, tier_watts and energy_left_wh are non-negative")

    @property
    def expires_at_ms(self) -> int:
        return self.issued_at_ms + self.ttl_ms

    def has_model(self, digest: bytes) -> bool:
        """Whether the node says it caches the model with this SHA-256 (a hint)."""
        return model_id(digest) in self.models

    @property
    def accepts_work(self) -> bool:
        return self.state in (VehicleState.PARKED, VehicleState.CHARGING) and self.free_slots > 0

    def to_payload(self) -> bytes:
        fields: list[codec.Value] = [
            ADVERT_VERSION,
            self.owner,
            self.seq,
            self.issued_at_ms,
            self.ttl_ms,
            _STATE_CODES[self.state],
            self.battery_pct,
            self.departure_ms,
            self.tier_watts,
            self.free_slots,
            self.energy_left_wh,
            b"".join(self.models),
            self.region,
            [encode_addr(a) for a in self.addrs],
        ]
        if self.region_cert is not None:
            fields.append(self.region_cert)
        return codec.encode(fields)

    @classmethod
    def from_payload(cls, payload: bytes) -> Advert:
        items = codec.decode(payload, ADVERT_LIMITS)
        if not isinstance(items, list) or len(items) < len(_FIELDS):
            raise DecodeError(f"an advert payload is an array of at least {len(_FIELDS)} items")
        if items[0] != ADVERT_VERSION or isinstance(items[0], bool):
            raise DecodeError(f"advert version {items[0]!r} is not supported")
        # Positional fields, read through the named-field helpers; extra items are ignored.
        doc = dict(zip((*_FIELDS, "region_cert"), items, strict=False))
        ids = codec.field_bytes(doc, "models", max_len=MAX_ADVERT_MODELS * MODEL_ID_SIZE)
        if len(ids) % MODEL_ID_SIZE:
            raise DecodeError(f"advert model ids must be a multiple of {MODEL_ID_SIZE} bytes")
        raw_addrs = codec.field_list(doc, "addrs", max_len=MAX_ADVERT_ADDRS)
        try:
            addrs = tuple(decode_addr(a) for a in raw_addrs if isinstance(a, bytes))
            if len(addrs) != len(raw_addrs):
                raise ValueError("addresses must be binary multiaddrs")
            state = codec.field_int(doc, "state", low=0, high=len(_STATE_CODES) - 1)
            return cls(
                owner=codec.field_bytes(doc, "owner", size=32),
                seq=codec.field_int(doc, "seq", low=0),
                issued_at_ms=codec.field_int(doc, "issued_at_ms", low=0),
                ttl_ms=codec.field_int(doc, "ttl_ms", low=1, high=MAX_TTL_MS),
                state=_STATES_BY_CODE[state],
                battery_pct=codec.field_int(doc, "battery_pct", low=0, high=100),
                departure_ms=codec.field_opt_int(doc, "departure_ms", low=0),
                tier_watts=codec.field_int(doc, "tier_watts", low=0, high=100_000),
                free_slots=codec.field_int(doc, "free_slots", low=0, high=1024),
                energy_left_wh=codec.field_int(doc, "energy_left_wh", low=0),
                models=tuple(ids[i : i + MODEL_ID_SIZE] for i in range(0, len(ids), MODEL_ID_SIZE)),
                region=codec.field_str(doc, "region", max_len=64),
                region_cert=codec.field_opt_bytes(doc, "region_cert", max_len=MAX_REGION_CERT),
                addrs=addrs,
            )
        except ValueError as exc:
            raise DecodeError(f"invalid advert: {exc}") from exc


# Payload array positions (protocol/advert.md, "Wire format"); region_cert is optional.
_FIELDS = (
    "version",
    "owner",
    "seq",
    "issued_at_ms",
    "ttl_ms",
    "state",
    "battery_pct",
    "departure_ms",
    "tier_watts",
    "free_slots",
    "energy_left_wh",
    "models",
    "region",
    "addrs",
)


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
