"""The submitter's crash-safe journal (SQLite, WAL): jobs, shards, assignments, reputation.

Every state change is one short transaction, committed before the submitter
acts on it, so a `kill -9` at any point leaves a journal from which
`p2pfleet submit --resume JOB_ID` finishes the job without redoing a shard
that was already verified. Outputs of finished shards live here too, so the
final files of a resumed job are byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from p2pfleet.core.compress import compress, decompress
from p2pfleet.core.limits import MAX_TENSOR_BYTES
from p2pfleet.core.reputation import NodeStanding

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    spec_json TEXT NOT NULL,
    manifest_wire BLOB NOT NULL,
    created_at REAL NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shards (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    names_json TEXT NOT NULL,
    input_zstd BLOB NOT NULL,
    canary INTEGER NOT NULL,
    known_hash BLOB,
    status TEXT NOT NULL,
    accepted_hash BLOB,
    output BLOB,
    trusted_node BLOB,
    finished_at REAL,
    PRIMARY KEY (job_id, idx)
);
CREATE TABLE IF NOT EXISTS assignments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    node_key BLOB NOT NULL,
    owner BLOB NOT NULL,
    placed_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    commit_hash BLOB
);
CREATE INDEX IF NOT EXISTS assignments_by_shard ON assignments (job_id, idx);
CREATE TABLE IF NOT EXISTS reputation (
    node_key BLOB PRIMARY KEY,
    valid_streak INTEGER NOT NULL,
    valid_total INTEGER NOT NULL,
    invalid_total INTEGER NOT NULL,
    last_caught_ms INTEGER
);
"""


class ShardStatus(StrEnum):
    QUEUED = "queued"
    VERIFIED = "verified"  # accepted by a quorum of agreeing replicas
    TRUSTED = "trusted"  # accepted unchecked from one trusted node (adaptive policy)
    CANARY_DONE = "canary-done"  # a canary that was judged (its output is never used)

    @property
    def finished(self) -> bool:
        return self is not ShardStatus.QUEUED


class JournalError(RuntimeError):
    """The journal does not know a job, or holds one that cannot be resumed."""


@dataclass(frozen=True, slots=True)
class JournalShard:
    index: int
    names: tuple[str, ...]
    input_bytes: bytes
    canary: bool
    known_hash: bytes | None
    status: ShardStatus
    accepted_hash: bytes | None
    output: bytes | None
    trusted_node: bytes | None


@dataclass(frozen=True, slots=True)
class JournalJob:
    job_id: str
    spec_json: str
    manifest_wire: bytes
    status: str


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _tx(self, sql: str, params: tuple[object, ...]) -> sqlite3.Cursor:
        with self._db:
            return self._db.execute(sql, params)

    # -- jobs and shards ---------------------------------------------------

    def create_job(
        self, job_id: str, spec_json: str, manifest_wire: bytes, shards: list[JournalShard]
    ) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, 'running')",
                (job_id, spec_json, manifest_wire, time.time()),
            )
            self._db.executemany(
                "INSERT INTO shards (job_id, idx, names_json, input_zstd, canary, known_hash,"
                " status) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        job_id,
                        s.index,
                        json.dumps(list(s.names)),
                        compress(s.input_bytes),
                        int(s.canary),
                        s.known_hash,
                        ShardStatus.QUEUED.value,
                    )
                    for s in shards
                ],
            )

    def job(self, job_id: str) -> JournalJob:
        row = self._db.execute(
            "SELECT job_id, spec_json, manifest_wire, status FROM jobs WHERE job_id = ?", (job_id,)
        ).fetchone()
        if row is None:
            raise JournalError(f"job {job_id} is not in the journal {self.path}")
        return JournalJob(*row)

    def job_ids(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT job_id FROM jobs ORDER BY created_at")]

    def shards(self, job_id: str) -> list[JournalShard]:
        rows = self._db.execute(
            "SELECT idx, names_json, input_zstd, canary, known_hash, status, accepted_hash,"
            " output, trusted_node FROM shards WHERE job_id = ? ORDER BY idx",
            (job_id,),
        ).fetchall()
        return [
            JournalShard(
                index=row[0],
                names=tuple(json.loads(row[1])),
                input_bytes=decompress(row[2], max_output=MAX_TENSOR_BYTES),
                canary=bool(row[3]),
                known_hash=row[4],
                status=ShardStatus(row[5]),
                accepted_hash=row[6],
                output=row[7],
                trusted_node=row[8],
            )
            for row in rows
        ]

    def finish_shard(
        self,
        job_id: str,
        index: int,
        status: ShardStatus,
        *,
        accepted_hash: bytes | None,
        output: bytes | None,
        trusted_node: bytes | None = None,
    ) -> None:
        self._tx(
            "UPDATE shards SET status = ?, accepted_hash = ?, output = ?, trusted_node = ?,"
            " finished_at = ? WHERE job_id = ? AND idx = ?",
            (status.value, accepted_hash, output, trusted_node, time.time(), job_id, index),
        )

    def requeue_trusted(self, job_id: str, node_key: bytes) -> list[int]:
        """Send a caught node's unchecked results back to the queue; returns their indexes."""
        with self._db:
            rows = self._db.execute(
                "SELECT idx FROM shards WHERE job_id = ? AND status = ? AND trusted_node = ?",
                (job_id, ShardStatus.TRUSTED.value, node_key),
            ).fetchall()
            self._db.execute(
                "UPDATE shards SET status = ?, accepted_hash = NULL, output = NULL,"
                " trusted_node = NULL WHERE job_id = ? AND status = ? AND trusted_node = ?",
                (ShardStatus.QUEUED.value, job_id, ShardStatus.TRUSTED.value, node_key),
            )
        return [r[0] for r in rows]

    def set_job_status(self, job_id: str, status: str) -> None:
        self._tx("UPDATE jobs SET status = ? WHERE job_id = ?", (status, job_id))

    # -- assignments -------------------------------------------------------

    def record_assignment(
        self,
        job_id: str,
        index: int,
        node_key: bytes,
        owner: bytes,
        outcome: str,
        detail: str,
        commit_hash: bytes | None,
    ) -> None:
        self._tx(
            "INSERT INTO assignments (job_id, idx, node_key, owner, placed_at, outcome, detail,"
            " commit_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, index, node_key, owner, time.time(), outcome, detail, commit_hash),
        )

    def assignment_counts(self, job_id: str) -> dict[bytes, int]:
        rows = self._db.execute(
            "SELECT node_key, COUNT(*) FROM assignments WHERE job_id = ? GROUP BY node_key",
            (job_id,),
        )
        return {bytes(k): n for k, n in rows}

    # -- reputation --------------------------------------------------------

    def standing(self, node_key: bytes) -> NodeStanding:
        row = self._db.execute(
            "SELECT valid_streak, valid_total, invalid_total, last_caught_ms FROM reputation"
            " WHERE node_key = ?",
            (node_key,),
        ).fetchone()
        if row is None:
            return NodeStanding()
        return NodeStanding(
            valid_streak=row[0], valid_total=row[1], invalid_total=row[2], last_caught_ms=row[3]
        )

    def save_standing(self, node_key: bytes, standing: NodeStanding) -> None:
        self._tx(
            "INSERT INTO reputation VALUES (?, ?, ?, ?, ?) ON CONFLICT (node_key) DO UPDATE SET"
            " valid_streak = excluded.valid_streak, valid_total = excluded.valid_total,"
            " invalid_total = excluded.invalid_total, last_caught_ms = excluded.last_caught_ms",
            (
                node_key,
                standing.valid_streak,
                standing.valid_total,
                standing.invalid_total,
                standing.last_caught_ms,
            ),
        )
