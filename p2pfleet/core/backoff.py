"""Jittered exponential backoff: when to retry something that failed (sans-IO).

`Backoff.delay(attempt, rng)` is the wait before retry number `attempt`
(0-based): `initial * factor**attempt`, capped at `cap`, then spread by
±`jitter` (a fraction) so a fleet that lost its bootstrap peer at the same
moment does not come back in lock step. Pure: the caller passes the rng.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.cap:
            raise ValueError(f"backoff needs 0 < initial <= cap, got {self.initial}, {self.cap}")
        if self.factor < 1:
            raise ValueError(f"backoff factor must be >= 1, got {self.factor}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"backoff jitter is a fraction in [0, 1), got {self.jitter}")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry `attempt` (0 for the first retry); never above `cap`."""
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt}")
        # factor**attempt overflows a float near attempt 1000: stop growing at the cap.
        base = self.initial
        for _ in range(attempt):
            base *= self.factor
            if base >= self.cap:
                base = self.cap
                break
        spread = 1.0 + self.jitter * (2.0 * rng.random() - 1.0)
        return min(self.cap, base * spread)

    def schedule(self, attempts: int, rng: random.Random) -> list[float]:
        """The first `attempts` delays, e.g. to print or test a policy."""
        return [self.delay(n, rng) for n in range(attempts)]
