"""The SQLite journal: jobs, shards, assignments, reputation survive a reopen."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from p2pfleet.core.reputation import NodeStanding
from p2pfleet.submit.journal import Journal, JournalError, JournalShard, ShardStatus


def shard(index: int, canary: bool = False) -> JournalShard:
    return JournalShard(
        index=index,
        names=(f"img-{index}",),
        input_bytes=bytes([index]) * 1000,
        canary=canary,
        known_hash=b"\x01" * 32 if canary else None,
        status=ShardStatus.QUEUED,
        accepted_hash=None,
        output=None,
        trusted_node=None,
    )


def test_state_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    journal.create_job("job1", "{}", b"manifest", [shard(0), shard(1, canary=True), shard(2)])
    journal.finish_shard("job1", 0, ShardStatus.VERIFIED, accepted_hash=b"h" * 32, output=b"out")
    journal.finish_shard(
        "job1",
        2,
        ShardStatus.TRUSTED,
        accepted_hash=b"t" * 32,
        output=b"o2",
        trusted_node=b"N" * 32,
    )
    journal.record_assignment("job1", 0, b"N" * 32, b"O" * 32, "committed", "", b"h" * 32)
    journal.save_standing(b"N" * 32, NodeStanding().after_valid().after_valid())
    journal.close()

    again = Journal(path)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    saved = again.shards("job1")
    assert [s.status for s in saved] == [
        ShardStatus.VERIFIED,
        ShardStatus.QUEUED,
        ShardStatus.TRUSTED,
    ]
    assert saved[0].output == b"out" and saved[0].input_bytes == bytes([0]) * 1000
    assert saved[1].canary and saved[1].known_hash == b"\x01" * 32
    assert again.standing(b"N" * 32).valid_streak == 2
    assert again.standing(b"X" * 32) == NodeStanding()
    assert again.assignment_counts("job1") == {b"N" * 32: 1}
    assert again.job("job1").manifest_wire == b"manifest"
    assert again.requeue_trusted("job1", b"N" * 32) == [2]
    assert again.shards("job1")[2].status is ShardStatus.QUEUED
    with pytest.raises(JournalError, match="not in the journal"):
        again.job("nope")
