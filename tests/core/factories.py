"""Deterministic builders shared by the core tests."""

from __future__ import annotations

import hashlib
from typing import Any

from p2pfleet.core.advert import Advert, SignedAdvert, VehicleState, sign_advert
from p2pfleet.core.identity import Identity
from p2pfleet.core.manifest import Manifest, ReplicationPolicy, ShardSpec

T0 = 1_795_000_000_000


def identity(n: int) -> Identity:
    return Identity(hashlib.sha256(b"test-identity-%d" % n).digest())


def digest(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def advert(**changes: Any) -> Advert:
    fields: dict[str, Any] = {
        "owner": identity(1000).public_key,
        "seq": 1,
        "issued_at_ms": T0,
        "ttl_ms": 60_000,
        "state": VehicleState.PARKED,
        "battery_pct": 70,
        "departure_ms": None,
        "tier_watts": 100,
        "free_slots": 2,
        "energy_left_wh": 1000,
        "models": (),
        "region": "eu-west",
        "region_cert": None,
        "addrs": (),
    }
    fields.update(changes)
    return Advert(**fields)


def signed_advert(node: int, owner: int | None = None, **changes: Any) -> SignedAdvert:
    owner_key = identity(1000 + (node if owner is None else owner)).public_key
    return sign_advert(identity(node), advert(owner=owner_key, **changes))


def manifest(submitter: Identity, **changes: Any) -> Manifest:
    fields: dict[str, Any] = {
        "submitter": submitter.public_key,
        "nonce": b"\x01" * 16,
        "created_at_ms": T0,
        "deadline_ms": T0 + 600_000,
        "task": "classify-image",
        "model": digest("model"),
        "runtime": "p2pfleet-int8/1",
        "runtime_settings": (("threads", "1"),),
        "shards": (ShardSpec(input_hash=digest("in-0"), items=4),),
        "replication": ReplicationPolicy(replicas=2, max_replicas=4),
        "regions": (),
    }
    fields.update(changes)
    return Manifest(**fields)
