"""The node's energy ledger (SQLite): what each task cost the owner's car."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    shard INTEGER NOT NULL,
    started_at REAL NOT NULL,
    runtime_ms INTEGER NOT NULL,
    energy_wh REAL NOT NULL,
    input_bytes INTEGER NOT NULL,
    output_bytes INTEGER NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_day ON tasks (started_at);
"""


@dataclass(frozen=True, slots=True)
class DaySummary:
    tasks: int
    energy_wh: float
    data_bytes: int


class EnergyLedger:
    """Append-only record of tasks; energy = compute tier power x runtime."""

    def __init__(self, path: Path, *, tier_watts: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._tier_watts = tier_watts

    def record(
        self,
        *,
        job_id: str,
        shard: int,
        started_at: float,
        runtime_ms: int,
        input_bytes: int,
        output_bytes: int,
        outcome: str,
    ) -> float:
        energy_wh = self._tier_watts * runtime_ms / 3_600_000
        self._db.execute(
            "INSERT INTO tasks (job_id, shard, started_at, runtime_ms, energy_wh, input_bytes,"
            " output_bytes, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, shard, started_at, runtime_ms, energy_wh, input_bytes, output_bytes, outcome),
        )
        return energy_wh

    def today(self, now: float | None = None) -> DaySummary:
        now = time.time() if now is None else now
        midnight = now - (now - time.timezone) % 86400
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(energy_wh), 0), COALESCE(SUM(input_bytes + output_bytes), 0)"
            " FROM tasks WHERE started_at >= ?",
            (midnight,),
        ).fetchone()
        return DaySummary(tasks=int(row[0]), energy_wh=float(row[1]), data_bytes=int(row[2]))

    def close(self) -> None:
        self._db.close()
