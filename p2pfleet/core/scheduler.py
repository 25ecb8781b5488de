"""Replica placement: which nodes may run a shard, and which ones do.

Pure decisions, shared by the live submitter and the simulator. Placement is
random (the caller passes an unpredictable `rng`), replicas of one shard go to
distinct owners, and a node is eligible only if its advert says it can finish
before it leaves.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from p2pfleet.core.advert import SignedAdvert

DEPARTURE_MARGIN_MS = 60_000


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardNeeds:
    """What one shard asks of a node."""

    model: bytes
    regions: tuple[str, ...] = ()
    min_tier_watts: int = 0
    min_battery_pct: int = 0
    estimated_ms: int = 10_000


def ineligibility(signed: SignedAdvert, needs: ShardNeeds, now_ms: int) -> str | None:
    """Why `signed` cannot take a shard with `needs` now, or None if it can."""
    advert = signed.advert
    if advert.expires_at_ms <= now_ms:
        return "advert expired"
    if not advert.accepts_work:
        return f"not taking work ({advert.state.value}, {advert.free_slots} free slots)"
    if needs.regions and advert.region not in needs.regions:
        return f"region {advert.region!r} not allowed"
    if advert.tier_watts < needs.min_tier_watts:
        return "compute tier too low"
    if advert.battery_pct < needs.min_battery_pct:
        return "battery too low"
    if (
        advert.departure_ms is not None
        and advert.departure_ms < now_ms + needs.estimated_ms + DEPARTURE_MARGIN_MS
    ):
        return "leaves before the shard can finish"
    return None


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
) -> list[SignedAdvert]:
    """Pick up to `count` eligible nodes at random, each from a distinct owner.

    Nodes that already cache the model are preferred; nodes at `max_load`
    in-flight assignments are skipped (backpressure).
    """
    load = load or {}
    pool = [
        s
        for s in candidates
        if s.node_key not in exclude_nodes
        and s.advert.owner not in exclude_owners
        and ineligibility(s, needs, now_ms) is None
        and (max_load is None or load.get(s.node_key, 0) < max_load)
    ]
    rng.shuffle(pool)
    pool.sort(key=lambda s: (not s.advert.has_model(needs.model), load.get(s.node_key, 0)))
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
