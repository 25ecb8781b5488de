"""Replica placement: eligibility, distinct owners, preference, backpressure, randomness."""

from __future__ import annotations

import random
from collections.abc import Collection

from p2pfleet.core.advert import SignedAdvert, VehicleState
from p2pfleet.core.scheduler import DEPARTURE_MARGIN_MS, ShardNeeds, choose_replicas, ineligibility

from .factories import T0, digest, signed_advert

MODEL = digest("model")
NEEDS = ShardNeeds(model=MODEL, estimated_ms=10_000)
NOW = T0 + 1_000


def pick(
    candidates: list[SignedAdvert],
    count: int,
    seed: int = 0,
    *,
    needs: ShardNeeds = NEEDS,
    exclude_nodes: Collection[bytes] = (),
    exclude_owners: Collection[bytes] = (),
    load: dict[bytes, int] | None = None,
    max_load: int | None = None,
) -> list[int]:
    chosen = choose_replicas(
        candidates,
        count,
        needs=needs,
        now_ms=NOW,
        rng=random.Random(seed),
        exclude_nodes=exclude_nodes,
        exclude_owners=exclude_owners,
        load=load,
        max_load=max_load,
    )
    index = {c.node_key: i for i, c in enumerate(candidates)}
    return [index[c.node_key] for c in chosen]


def test_distinct_owners() -> None:
    # nodes 0..5 belong to owners 0,0,0,1,1,2
    fleet = [signed_advert(i, owner=o) for i, o in enumerate([0, 0, 0, 1, 1, 2])]
    owners = [0, 0, 0, 1, 1, 2]
    for seed in range(20):
        chosen = pick(fleet, 3, seed)
        assert sorted(owners[i] for i in chosen) == [0, 1, 2]
    assert len(pick(fleet, 5)) == 3  # only three owners exist
    assert {owners[i] for i in pick(fleet, 3, exclude_owners={fleet[5].advert.owner})} == {0, 1}


def test_departure_rule() -> None:
    leaves_soon = signed_advert(1, departure_ms=NOW + 10_000 + DEPARTURE_MARGIN_MS - 1)
    leaves_in_time = signed_advert(2, departure_ms=NOW + 10_000 + DEPARTURE_MARGIN_MS)
    unknown = signed_advert(3, departure_ms=None)
    assert ineligibility(leaves_soon, NEEDS, NOW) is not None
    assert ineligibility(leaves_in_time, NEEDS, NOW) is None
    assert sorted(pick([leaves_soon, leaves_in_time, unknown], 3)) == [1, 2]


def test_region_filter() -> None:
    fleet = [signed_advert(1, region="eu-west"), signed_advert(2, region="us-east")]
    needs = ShardNeeds(model=MODEL, regions=("us-east",))
    assert pick(fleet, 2, needs=needs) == [1]
    assert sorted(pick(fleet, 2)) == [0, 1]  # no restriction


def test_not_taking_work_or_expired() -> None:
    fleet = [
        signed_advert(1, state=VehicleState.DRIVING),
        signed_advert(2, state=VehicleState.OFFLINE),
        signed_advert(3, free_slots=0),
        signed_advert(4, ttl_ms=1_000),  # expires at T0 + 1000 == NOW
        signed_advert(5, battery_pct=10),
        signed_advert(6, tier_watts=5),
        signed_advert(7, state=VehicleState.CHARGING),
    ]
    needs = ShardNeeds(model=MODEL, min_battery_pct=20, min_tier_watts=10)
    assert pick(fleet, 7, needs=needs) == [6]


def test_model_cache_preference() -> None:
    fleet = [signed_advert(i) for i in range(6)] + [signed_advert(6, models=(MODEL,))]
    for seed in range(10):
        assert pick(fleet, 2, seed)[0] == 6


def test_max_load_backpressure() -> None:
    fleet = [signed_advert(i) for i in range(4)]
    load = {fleet[0].node_key: 2, fleet[1].node_key: 1}
    assert sorted(pick(fleet, 4, load=load, max_load=2)) == [1, 2, 3]
    # without a cap, lightly loaded nodes still come first
    for seed in range(10):
        assert sorted(pick(fleet, 2, seed, load=load)) == [2, 3]


def test_exclude_nodes() -> None:
    fleet = [signed_advert(i) for i in range(3)]
    assert sorted(pick(fleet, 3, exclude_nodes={fleet[1].node_key})) == [0, 2]


def test_placement_is_random() -> None:
    fleet = [signed_advert(i) for i in range(30)]
    placements = {tuple(sorted(pick(fleet, 3, seed))) for seed in range(20)}
    assert len(placements) > 10
    assert pick(fleet, 3, 7) == pick(fleet, 3, 7)  # the rng alone decides
    counts = [0] * 30
    for seed in range(300):
        for i in pick(fleet, 3, seed):
            counts[i] += 1
    assert min(counts) > 0  # every eligible node gets picked sometimes


def test_attested_only_admits_only_trusted_unexpired_certificates() -> None:
    from dataclasses import replace

    from p2pfleet.core.region_cert import RegionCert, issue_region_cert

    from .factories import identity

    authority, rogue = identity(900), identity(901)
    now_s = NOW // 1000

    def cert(
        node: int,
        signer: object = authority,
        *,
        region: str = "eu-west",
        not_after_s: int = now_s + 3600,
    ) -> bytes:
        body = RegionCert(
            node_key=identity(node).public_key,
            region=region,
            not_before_s=now_s - 60,
            not_after_s=not_after_s,
        )
        return issue_region_cert(signer, body).wire  # type: ignore[arg-type]

    fleet = [
        signed_advert(0, region_cert=cert(0)),  # valid
        signed_advert(1, region_cert=cert(1, not_after_s=now_s - 1)),  # expired
        signed_advert(2, region_cert=cert(2, rogue)),  # wrong authority
        signed_advert(3, region_cert=cert(0)),  # someone else's certificate
        signed_advert(4, region_cert=cert(4, region="us-east")),  # another region
        signed_advert(5),  # self-declared only
    ]
    needs = replace(NEEDS, attested_only=True, authorities=frozenset({authority.public_key}))
    for seed in range(10):
        assert pick(fleet, 6, seed, needs=needs) == [0]
    assert "expired" in (ineligibility(fleet[1], needs, NOW) or "")
    assert "does not trust" in (ineligibility(fleet[2], needs, NOW) or "")
    assert "another node" in (ineligibility(fleet[3], needs, NOW) or "")
    assert "no region certificate" in (ineligibility(fleet[5], needs, NOW) or "")
    assert len(pick(fleet, 6)) == 6  # without attested_only, self-declared regions count


def test_job_share_cap_and_still_working() -> None:
    from p2pfleet.core.scheduler import job_share_cap, still_working

    assert job_share_cap(0.25, 40) == 10 and job_share_cap(0.01, 10) == 1
    fleet = [signed_advert(i) for i in range(4)]
    job_load = {fleet[0].node_key: 3, fleet[1].node_key: 2}
    chosen = choose_replicas(
        fleet, 4, needs=NEEDS, now_ms=NOW, rng=random.Random(1), job_load=job_load, max_job_load=3
    )
    assert fleet[0] not in chosen and len(chosen) == 3
    assert still_working(signed_advert(7), NOW)
    assert not still_working(signed_advert(7, state=VehicleState.DRIVING), NOW)
    assert not still_working(signed_advert(7), T0 + 60_000)
    assert not still_working(None, NOW)
