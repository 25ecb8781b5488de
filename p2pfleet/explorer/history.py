"""Capacity over time: a bounded series of samples taken at a fixed interval.

In memory by default; with `db_path` the samples also go to SQLite, so a
restarted explorer shows the hours it already watched.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS capacity (
    t_ms INTEGER PRIMARY KEY,
    peers INTEGER NOT NULL,
    available INTEGER NOT NULL,
    free_slots INTEGER NOT NULL,
    available_watts INTEGER NOT NULL,
    driving INTEGER NOT NULL
);
"""
_PRUNE_EVERY = 100  # inserts between deletions of rows that fell out of the window


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacitySample:
    t_ms: int
    peers: int
    available: int
    free_slots: int
    available_watts: int
    driving: int


_COLUMNS = tuple(f.name for f in fields(CapacitySample))


class CapacityHistory:
    """The last `max_samples` samples; older ones fall off (memory and disk stay bounded)."""

    def __init__(self, *, interval_s: float, max_samples: int, db_path: Path | None = None) -> None:
        if interval_s <= 0 or max_samples < 1:
            raise ValueError("interval_s must be > 0 and max_samples >= 1")
        self.interval_s = interval_s
        self._samples: deque[CapacitySample] = deque(maxlen=max_samples)
        self._db: sqlite3.Connection | None = None
        self._inserts = 0
        if db_path is not None:
            db_path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(db_path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            rows = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM capacity ORDER BY t_ms DESC LIMIT ?",
                (max_samples,),
            ).fetchall()
            for row in reversed(rows):
                self._samples.append(CapacitySample(**dict(zip(_COLUMNS, row, strict=True))))

    def add(self, t_ms: int, summary: dict[str, Any]) -> CapacitySample:
        sample = CapacitySample(
            t_ms=t_ms,
            peers=summary["peers"],
            available=summary["available"],
            free_slots=summary["free_slots"],
            available_watts=summary["available_watts"],
            driving=summary["by_state"]["driving"]["peers"],
        )
        if self._samples and t_ms <= self._samples[-1].t_ms:
            return self._samples[-1]  # the clock stepped back: keep the series ordered
        self._samples.append(sample)
        if self._db is not None:
            self._store(sample)
        return sample

    def _store(self, sample: CapacitySample) -> None:
        assert self._db is not None
        values = tuple(getattr(sample, c) for c in _COLUMNS)
        self._db.execute(
            f"INSERT OR REPLACE INTO capacity ({', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
            values,
        )
        self._inserts += 1
        if self._inserts % _PRUNE_EVERY == 0:
            self._db.execute("DELETE FROM capacity WHERE t_ms < ?", (self._samples[0].t_ms,))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __len__(self) -> int:
        return len(self._samples)

    def to_json(self) -> dict[str, Any]:
        return {
            "interval_s": self.interval_s,
            "samples": [asdict(sample) for sample in self._samples],
        }
