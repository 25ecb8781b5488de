"""Replica placement: which nodes may run a shard, and which ones do.

Pure decisions, shared by the live submitter and the simulator. Placement is
random (the caller passes an unpredictable `rng`), replicas of one shard go to
distinct owners, no node takes more than its share of a job, and a node is
eligible only if its advert says it can finish before it leaves.

Distinct owners are only as distinct as owner keys: `owner` in an advert is
self-declared, so one operator can claim many owners (Sybil). Owner spreading
stops one honest fleet operator's vehicles from verifying each other; it does
not bound an attacker who mints keys. Attested regions (`attested_only`) and
reputation are what an attacker cannot mint for free.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from p2pfleet.core.advert import SignedAdvert, VehicleState
from p2pfleet.core.region_cert import RegionCertError, check_region_cert

DEPARTURE_MARGIN_MS = 60_000
# A node whose replica was lost without a vote (busy, reset, timed out) may take
# the shard once more: on a small fleet a transient failure must not use it up.
MAX_TRIES_PER_NODE = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardNeeds:
    """What one shard asks of a node."""

    model: bytes
    regions: tuple[str, ...] = ()
    min_tier_watts: int = 0
    min_battery_pct: int = 0
    estimated_ms: int = 10_000
    departure_margin_ms: int = DEPARTURE_MARGIN_MS
    attested_only: bool = False  # only nodes whose region a trusted authority certified
    authorities: frozenset[bytes] = frozenset()  # trusted region-authority public keys


def attested(signed: SignedAdvert, needs: ShardNeeds, now_ms: int) -> str | None:
    """Why the advert's region is not attested, or None if a trusted certificate covers it."""
    advert = signed.advert
    if advert.region_cert is None:
        return "no region certificate"
    try:
        check_region_cert(
            advert.region_cert,
            node_key=signed.node_key,
            region=advert.region,
            trusted=needs.authorities,
            now_s=now_ms // 1000,
        )
    except RegionCertError as exc:
        return str(exc)
    return None


def still_working(signed: SignedAdvert | None, now_ms: int) -> bool:
    """Whether a node that holds an assignment still looks able to finish it."""
    if signed is None or signed.advert.expires_at_ms <= now_ms:
        return False
    return signed.advert.state in (VehicleState.PARKED, VehicleState.CHARGING)


def ineligibility(signed: SignedAdvert, needs: ShardNeeds, now_ms: int) -> str | None:
    """Why `signed` cannot take a shard with `needs` now, or None if it can."""
    advert = signed.advert
    if advert.expires_at_ms <= now_ms:
        return "advert expired"
    if not advert.accepts_work:
        return f"not taking work ({advert.state.value}, {advert.free_slots} free slots)"
    if needs.regions and advert.region not in needs.regions:
        return f"region {advert.region!r} not allowed"
    if needs.attested_only and (why := attested(signed, needs, now_ms)) is not None:
        return why
    if advert.tier_watts < needs.min_tier_watts:
        return "compute tier too low"
    if advert.battery_pct < needs.min_battery_pct:
        return "battery too low"
    if (
        advert.departure_ms is not None
        and advert.departure_ms < now_ms + needs.estimated_ms + needs.departure_margin_ms
    ):
        return "leaves before the shard can finish"
    return None


def shard_exclusions(
    attempts: Iterable[tuple[bytes, bytes, bool]],
) -> tuple[set[bytes], set[bytes]]:
    """Nodes and owners a shard may not be placed on again, from its (node, owner, lost) attempts.

    Excluded: every node that voted or still computes, and its owner; and
    nodes whose losses used up MAX_TRIES_PER_NODE.
    """
    attempts = list(attempts)
    tries = Counter(node for node, _, _ in attempts)
    nodes = {node for node, _, lost in attempts if not lost or tries[node] >= MAX_TRIES_PER_NODE}
    owners = {owner for _, owner, lost in attempts if not lost}
    return nodes, owners


def choose_replicas(
    candidates: Sequence[SignedAdvert],
    count: int,
    *,
    needs: ShardNeeds,
    now_ms: int,
    rng: random.Random,
    exclude_nodes: Collection[bytes] = (),
    exclude_owners: Collection[bytes] = (),
    load: dict[bytes, int] | None = None,
    max_load: int | None = None,
    job_load: dict[bytes, int] | None = None,
    max_job_load: int | None = None,
) -> list[SignedAdvert]:
    """Pick up to `count` eligible nodes at random, each from a distinct owner.

    Nodes that already cache the model are preferred, then nodes with more
    free slots; nodes at `max_load` in-flight assignments (backpressure) or
    at `max_job_load` assignments in this job (share cap) are skipped.
    """
    load = load or {}
    job_load = job_load or {}
    pool = [
        s
        for s in candidates
        if s.node_key not in exclude_nodes
        and s.advert.owner not in exclude_owners
        and ineligibility(s, needs, now_ms) is None
        and (max_load is None or load.get(s.node_key, 0) < max_load)
        and (max_job_load is None or job_load.get(s.node_key, 0) < max_job_load)
    ]
    rng.shuffle(pool)
    pool.sort(
        key=lambda s: (
            not s.advert.has_model(needs.model),
            load.get(s.node_key, 0) - s.advert.free_slots,
        )
    )
    chosen: list[SignedAdvert] = []
    owners: set[bytes] = set(exclude_owners)
    for signed in pool:
        if signed.advert.owner in owners:
            continue
        chosen.append(signed)
        owners.add(signed.advert.owner)
        if len(chosen) == count:
            break
    return chosen


def job_share_cap(max_share: float, planned_slots: int) -> int:
    """Most assignments of one job a single node may receive (at least one)."""
    if not 0.0 < max_share <= 1.0:
        raise ValueError("max_share must be within (0, 1]")
    return max(1, math.ceil(max_share * planned_slots))
