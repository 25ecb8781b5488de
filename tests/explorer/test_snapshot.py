"""What the explorer computes: peer rows, capacity by region and state, graph, jobs, history."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from p2pfleet.core.advert import Advert, SignedAdvert, VehicleState, sign_advert
from p2pfleet.core.identity import Identity
from p2pfleet.core.status import JobSeen, NodeStatusReport, sign_status
from p2pfleet.explorer.history import CapacityHistory
from p2pfleet.explorer.snapshot import StatusSeen, graph, peer_rows, recent_jobs, summarize

NOW = 1_795_000_000_000
OWNER = Identity(bytes([9]) * 32)
NODES = [Identity(bytes([i]) * 32) for i in range(1, 6)]


def advert(
    node: Identity, state: VehicleState, region: str, slots: int = 1, watts: int = 300
) -> SignedAdvert:
    return sign_advert(
        node,
        Advert(
            owner=OWNER.public_key,
            seq=1,
            issued_at_ms=NOW - 3_000,
            ttl_ms=30_000,
            state=state,
            battery_pct=70,
            departure_ms=NOW + 3_600_000,
            tier_watts=watts,
            free_slots=slots,
            energy_left_wh=500,
            region=region,
        ),
    )


def status(node: Identity, peers: tuple[str, ...], jobs: tuple[JobSeen, ...] = ()) -> StatusSeen:
    report = NodeStatusReport(
        nonce=bytes(16),
        issued_at_ms=NOW,
        region="x",
        state=VehicleState.PARKED,
        peer_count=len(peers),
        peers=peers,
        jobs=jobs,
    )
    return StatusSeen(sign_status(node, report), NOW)


def fleet_rows() -> list[dict[str, Any]]:
    adverts = [
        advert(NODES[0], VehicleState.PARKED, "berlin", slots=2, watts=300),
        advert(NODES[1], VehicleState.CHARGING, "berlin", slots=1, watts=500),
        advert(NODES[2], VehicleState.DRIVING, "munich", slots=0, watts=300),
        advert(NODES[3], VehicleState.PARKED, "munich", slots=0, watts=300),  # full
    ]
    return peer_rows(adverts, NOW)


def test_rows_carry_every_column_the_page_shows() -> None:
    rows = fleet_rows()
    assert [r["region"] for r in rows] == ["berlin", "berlin", "munich", "munich"]
    (row,) = [r for r in rows if r["peer"] == NODES[0].peer_id]
    assert row["region"] == "berlin" and row["state"] == "parked"
    assert row["departure_in_s"] == 3600 and row["age_s"] == 3.0 and row["expires_in_s"] == 27.0
    assert row["charging"] is False and row["attested"] is False and row["available"] is True
    assert len(row["owner"]) > 0 and row["models"] == []


def test_summary_sums_available_capacity_by_region_and_state() -> None:
    summary = summarize(fleet_rows())
    assert (summary["peers"], summary["available"]) == (4, 2)
    assert (summary["free_slots"], summary["available_watts"]) == (3, 800)
    assert summary["by_region"]["berlin"] == {
        "peers": 2,
        "available": 2,
        "free_slots": 3,
        "available_watts": 800,
    }
    assert summary["by_region"]["munich"]["available"] == 0
    assert summary["by_state"]["driving"]["peers"] == 1
    assert summary["by_state"]["offline"] == {
        "peers": 0,
        "available": 0,
        "free_slots": 0,
        "available_watts": 0,
    }


def test_graph_merges_both_directions_and_marks_unknown_peers() -> None:
    a, b, c = (n.peer_id for n in NODES[:3])
    explorer = NODES[4].peer_id
    statuses = {a: status(NODES[0], (b, c, explorer)), b: status(NODES[1], (a,))}
    result = graph(explorer, fleet_rows()[:2], statuses)
    edges = {(e["a"], e["b"]) for e in result["edges"]}
    assert edges == {tuple(sorted(p)) for p in [(a, b), (a, c), (a, explorer)]}
    kinds = {n["id"]: n["kind"] for n in result["nodes"]}
    assert kinds[explorer] == "explorer" and kinds[a] == "node" and kinds[c] == "other"


def test_recent_jobs_sum_shards_over_nodes_newest_first() -> None:
    old, new = bytes([1]) * 32, bytes([2]) * 32
    statuses = {
        "n1": status(
            NODES[0],
            (),
            (
                JobSeen(job_id=new, shards_done=2, shards_assigned=2, last_ms=NOW),
                JobSeen(job_id=old, shards_done=1, shards_assigned=1, last_ms=NOW - 9_000),
            ),
        ),
        "n2": status(
            NODES[1], (), (JobSeen(job_id=new, shards_done=1, shards_assigned=2, last_ms=NOW - 5),)
        ),
    }
    jobs = recent_jobs(statuses)
    assert [j["job_id"] for j in jobs] == [new.hex(), old.hex()]
    assert jobs[0]["nodes"] == ["n1", "n2"]
    assert (jobs[0]["shards_done"], jobs[0]["shards_assigned"]) == (3, 4)


def test_history_is_bounded_and_keeps_the_newest() -> None:
    history = CapacityHistory(interval_s=1.0, max_samples=3)
    summary = summarize(fleet_rows())
    for t in range(5):
        history.add(NOW + t, summary)
    samples = history.to_json()["samples"]
    assert [s["t_ms"] for s in samples] == [NOW + 2, NOW + 3, NOW + 4]
    assert samples[-1]["available_watts"] == 800 and samples[-1]["driving"] == 1
    with pytest.raises(ValueError):
        CapacityHistory(interval_s=0, max_samples=3)


def test_history_survives_a_restart_in_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    summary = summarize(fleet_rows())
    first = CapacityHistory(interval_s=1.0, max_samples=3, db_path=db)
    for t in range(250):  # enough inserts to prune the table
        first.add(NOW + t, summary)
    first.add(NOW, summary)  # a clock step back is ignored
    first.close()
    again = CapacityHistory(interval_s=1.0, max_samples=3, db_path=db)
    assert [s["t_ms"] for s in again.to_json()["samples"]] == [NOW + 247, NOW + 248, NOW + 249]
    again.close()
    with closing(sqlite3.connect(db)) as check:
        (rows,) = check.execute("SELECT COUNT(*) FROM capacity").fetchone()
    assert rows < 100  # the table is pruned to the window, not grown forever
