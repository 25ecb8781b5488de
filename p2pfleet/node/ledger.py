"""The node's energy ledger (SQLite): what each task cost the owner's car.

One row per task: runtime, energy (Wh = compute tier watts x runtime), task
bytes in and out, whether they crossed a cellular link, and the outcome.
One row per model transfer (download or upload, complete or cut): the model
bytes moved and whether they crossed a cellular link. The owner's cellular
data cap counts both. Daily totals are taken from the local midnight the
caller passes in.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

from p2pfleet.core.energy import local_day_start, task_energy_wh

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
CREATE TABLE IF NOT EXISTS model_transfers (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    model TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('download', 'upload')),
    bytes INTEGER NOT NULL,
    cellular INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS model_transfers_by_day ON model_transfers (at);
"""
MODEL_DIRECTIONS = ("download", "upload")
_MIGRATIONS = {"cellular": "ALTER TABLE tasks ADD COLUMN cellular INTEGER NOT NULL DEFAULT 0"}


@dataclass(frozen=True, slots=True)
class DaySummary:
    tasks: int  # every task recorded today, whatever its outcome
    completed: int
    energy_wh: float
    data_bytes: int  # task bytes in and out, any link
    cellular_bytes: int = 0  # everything the cellular cap counts: task and model bytes
    model_bytes: int = 0  # model downloads and uploads, any link
    model_cellular_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Totals:
    outcomes: dict[str, int]
    energy_wh: float
    data_bytes: int  # task bytes in and out, any link
    cellular_bytes: int  # task bytes over cellular (model bytes: model_transfers)
    model_transfers: dict[tuple[str, str], int]  # (direction, "cellular"|"other") -> bytes


class EnergyLedger:
    """Append-only record of tasks; energy = compute tier power x runtime."""

    def __init__(self, path: Path, *, tier_watts: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(tasks)")}
        for column, statement in _MIGRATIONS.items():
            if column not in columns:
                self._db.execute(statement)
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
        cellular: bool = False,
    ) -> float:
        energy_wh = task_energy_wh(self._tier_watts, runtime_ms)
        self._db.execute(
            "INSERT INTO tasks (job_id, shard, started_at, runtime_ms, energy_wh, input_bytes,"
            " output_bytes, outcome, cellular) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job_id,
                shard,
                started_at,
                runtime_ms,
                energy_wh,
                input_bytes,
                output_bytes,
                outcome,
                int(cellular),
            ),
        )
        return energy_wh

    def today_in(self, zone: tzinfo, now: float | None = None) -> DaySummary:
        """Totals since the last local midnight in `zone` (the owner's day)."""
        now = time.time() if now is None else now
        offset = datetime.fromtimestamp(now, zone).utcoffset()
        return self.today(local_day_start(now, offset.total_seconds() if offset else 0.0))

    def today(self, day_start: float | None = None) -> DaySummary:
        """Totals since `day_start` (unix s; default: the last UTC midnight)."""
        if day_start is None:
            now = time.time()
            day_start = now - now % 86400
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(outcome = 'completed'), 0),"
            " COALESCE(SUM(energy_wh), 0), COALESCE(SUM(input_bytes + output_bytes), 0),"
            " COALESCE(SUM(CASE WHEN cellular THEN input_bytes + output_bytes ELSE 0 END), 0)"
            " FROM tasks WHERE started_at >= ?",
            (day_start,),
        ).fetchone()
        models = self._db.execute(
            "SELECT COALESCE(SUM(bytes), 0), COALESCE(SUM(CASE WHEN cellular THEN bytes END), 0)"
            " FROM model_transfers WHERE at >= ?",
            (day_start,),
        ).fetchone()
        return DaySummary(
            tasks=int(row[0]),
            completed=int(row[1]),
            energy_wh=float(row[2]),
            data_bytes=int(row[3]),
            cellular_bytes=int(row[4]) + int(models[1]),
            model_bytes=int(models[0]),
            model_cellular_bytes=int(models[1]),
        )

    def totals(self) -> Totals:
        outcomes = dict(
            self._db.execute("SELECT outcome, COUNT(*) FROM tasks GROUP BY outcome").fetchall()
        )
        row = self._db.execute(
            "SELECT COALESCE(SUM(energy_wh), 0), COALESCE(SUM(input_bytes + output_bytes), 0),"
            " COALESCE(SUM(CASE WHEN cellular THEN input_bytes + output_bytes ELSE 0 END), 0)"
            " FROM tasks"
        ).fetchone()
        return Totals(
            outcomes={str(k): int(v) for k, v in outcomes.items()},
            energy_wh=float(row[0]),
            data_bytes=int(row[1]),
            cellular_bytes=int(row[2]),
            model_transfers={
                (str(direction), "cellular" if cellular else "other"): int(total)
                for direction, cellular, total in self._db.execute(
                    "SELECT direction, cellular != 0, SUM(bytes) FROM model_transfers"
                    " GROUP BY direction, cellular != 0"
                )
            },
        )

    def record_model_transfer(
        self, *, model: str, direction: str, nbytes: int, cellular: bool, at: float | None = None
    ) -> None:
        """One model download or upload (`nbytes` moved, even if the transfer was cut)."""
        if direction not in MODEL_DIRECTIONS:
            raise ValueError(f"direction must be one of {MODEL_DIRECTIONS}, got {direction!r}")
        self._db.execute(
            "INSERT INTO model_transfers (at, model, direction, bytes, cellular)"
            " VALUES (?, ?, ?, ?, ?)",
            (time.time() if at is None else at, model, direction, nbytes, int(cellular)),
        )

    def close(self) -> None:
        self._db.close()
