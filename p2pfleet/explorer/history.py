"""Capacity over time: a bounded series of samples taken at a fixed interval."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacitySample:
    t_ms: int
    peers: int
    available: int
    free_slots: int
    available_watts: int
    driving: int


class CapacityHistory:
    """The last `max_samples` samples; older ones fall off (memory stays bounded)."""

    def __init__(self, *, interval_s: float, max_samples: int) -> None:
        if interval_s <= 0 or max_samples < 1:
            raise ValueError("interval_s must be > 0 and max_samples >= 1")
        self.interval_s = interval_s
        self._samples: deque[CapacitySample] = deque(maxlen=max_samples)

    def add(self, t_ms: int, summary: dict[str, Any]) -> CapacitySample:
        sample = CapacitySample(
            t_ms=t_ms,
            peers=summary["peers"],
            available=summary["available"],
            free_slots=summary["free_slots"],
            available_watts=summary["available_watts"],
            driving=summary["by_state"]["driving"]["peers"],
        )
        self._samples.append(sample)
        return sample

    def __len__(self) -> int:
        return len(self._samples)

    def to_json(self) -> dict[str, Any]:
        return {
            "interval_s": self.interval_s,
            "samples": [asdict(sample) for sample in self._samples],
        }
