"""What the explorer shows, as plain JSON-ready dicts (pure functions, no I/O).

`snapshot()` is the one document the page, the SSE stream and `--json --once`
all use; `/api/peers`, `/api/summary` and friends are slices of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from p2pfleet.core.advert import SignedAdvert, VehicleState
from p2pfleet.core.identity import key_fingerprint
from p2pfleet.core.status import SignedStatus

AVAILABLE_STATES = (VehicleState.PARKED.value, VehicleState.CHARGING.value)


@dataclass(frozen=True, slots=True)
class StatusSeen:
    """A verified status and when the explorer received it."""

    status: SignedStatus
    received_ms: int


def advert_row(signed: SignedAdvert, now_ms: int) -> dict[str, Any]:
    advert = signed.advert
    return {
        "peer": signed.peer_id,
        "owner": key_fingerprint(advert.owner),
        "state": advert.state.value,
        "battery_pct": advert.battery_pct,
        "charging": advert.state is VehicleState.CHARGING,
        "departure_in_s": None
        if advert.departure_ms is None
        else round((advert.departure_ms - now_ms) / 1000),
        "tier_watts": advert.tier_watts,
        "free_slots": advert.free_slots,
        "available": advert.accepts_work,
        "energy_left_wh": advert.energy_left_wh,
        "region": advert.region,
        "attested": advert.region_cert is not None,
        "models": [m.hex() for m in advert.models],
        "addrs": list(advert.addrs),
        "seq": advert.seq,
        "age_s": round((now_ms - advert.issued_at_ms) / 1000, 1),
        "expires_in_s": round((advert.expires_at_ms - now_ms) / 1000, 1),
    }


def _capacity(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    rows = list(rows)
    available = [r for r in rows if r["available"]]
    return {
        "peers": len(rows),
        "available": len(available),
        "free_slots": sum(r["free_slots"] for r in available),
        "available_watts": sum(r["tier_watts"] for r in available),
    }


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Capacity available now: totals, by region and by state."""
    regions = sorted({r["region"] for r in rows})
    return {
        **_capacity(rows),
        "by_region": {g: _capacity(r for r in rows if r["region"] == g) for g in regions},
        "by_state": {
            s.value: _capacity(r for r in rows if r["state"] == s.value) for s in VehicleState
        },
    }


def graph(
    own_peer: str, rows: list[dict[str, Any]], statuses: Mapping[str, StatusSeen]
) -> dict[str, Any]:
    """The overlay as nodes and undirected edges, from the nodes' signed statuses."""
    states = {r["peer"]: r["state"] for r in rows}
    edges: set[tuple[str, str]] = set()
    for peer, seen in statuses.items():
        for other in seen.status.report.peers:
            if other != peer:
                edges.add((min(peer, other), max(peer, other)))
    ids = set(states) | set(statuses) | {p for e in edges for p in e}
    nodes = [
        {
            "id": peer,
            "kind": "explorer" if peer == own_peer else "node" if peer in states else "other",
            "state": states.get(peer),
            "reported": peer in statuses,
        }
        for peer in sorted(ids)
    ]
    return {"nodes": nodes, "edges": [{"a": a, "b": b} for a, b in sorted(edges)]}


def recent_jobs(statuses: Mapping[str, StatusSeen], limit: int = 50) -> list[dict[str, Any]]:
    """Jobs seen in nodes' statuses, newest first, with shard counts summed over nodes."""
    jobs: dict[bytes, dict[str, Any]] = {}
    for peer, seen in statuses.items():
        for job in seen.status.report.jobs:
            entry = jobs.setdefault(
                job.job_id,
                {"job_id": job.job_id.hex(), "nodes": [], "shards_done": 0, "shards_assigned": 0},
            )
            entry["nodes"].append(peer)
            entry["shards_done"] += job.shards_done
            entry["shards_assigned"] += job.shards_assigned
            entry["last_ms"] = max(entry.get("last_ms", 0), job.last_ms)
    ordered = sorted(jobs.values(), key=lambda j: (-j["last_ms"], j["job_id"]))
    for entry in ordered:
        entry["nodes"].sort()
    return ordered[:limit]


def snapshot(adverts: list[SignedAdvert], now_ms: int) -> dict[str, Any]:
    """Peers and their summary only (kept for callers that have no statuses)."""
    rows = peer_rows(adverts, now_ms)
    return {"peers": rows, "summary": summarize(rows)}


def peer_rows(adverts: list[SignedAdvert], now_ms: int) -> list[dict[str, Any]]:
    return sorted((advert_row(s, now_ms) for s in adverts), key=lambda r: (r["region"], r["peer"]))
