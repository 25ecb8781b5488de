"""The simulated clock: a priority queue of timed callbacks, run in time order.

Ties run in the order they were scheduled, so a run is deterministic for a seed.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

Handler = Callable[[Any], None]


class EventQueue:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Handler, Any]] = []
        self._seq = 0
        self.now = 0.0  # simulated seconds since the start (UTC midnight of day 0)
        self.processed = 0

    def __len__(self) -> int:
        return len(self._heap)

    def at(self, when_s: float, handler: Handler, arg: Any = None) -> None:
        """Run `handler(arg)` at simulated time `when_s` (never in the past)."""
        self._seq += 1
        heapq.heappush(self._heap, (max(when_s, self.now), self._seq, handler, arg))

    def after(self, delay_s: float, handler: Handler, arg: Any = None) -> None:
        self.at(self.now + delay_s, handler, arg)

    def run(self, *, until_s: float, stop: Callable[[], bool] = lambda: False) -> None:
        """Process events in time order until `stop()` holds or the next one is after `until_s`.

        Stopped by `stop()`, the clock stays at the last event's time;
        otherwise it ends at `until_s`.
        """
        heap = self._heap
        while heap:
            if stop():
                return
            when, _, handler, arg = heap[0]
            if when > until_s:
                break
            heapq.heappop(heap)
            self.now = when
            self.processed += 1
            handler(arg)
        self.now = max(self.now, until_s)
