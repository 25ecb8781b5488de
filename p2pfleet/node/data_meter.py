"""The owner's cellular data cap, applied to model transfers.

Model files are megabytes; one fetch over a phone link can cost more than a
day of task traffic. The model service asks the meter before it moves a
model (`refusal(nbytes)`: the whole transfer must fit in what is left of
today's cellular allowance) and records every transfer afterwards, whole or
cut, on the link the vehicle was on when it started. The ledger then counts
those bytes in the same daily cellular total the policy's data-cap latch
reads, so task admission and model transfers share one allowance.
"""

from __future__ import annotations

import logging
import time
import zoneinfo
from collections.abc import Callable

from p2pfleet.core.policy import OwnerPolicy, transfer_refusal
from p2pfleet.node.ledger import EnergyLedger

log = logging.getLogger("p2pfleet.node.models")


class ModelDataCapError(Exception):
    """Moving this model over cellular now would exceed the owner's daily data cap."""


class DataMeter:
    def __init__(
        self,
        ledger: EnergyLedger,
        policy: OwnerPolicy,
        on_cellular: Callable[[], bool],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ledger = ledger
        self._policy = policy
        self._zone = zoneinfo.ZoneInfo(policy.timezone)
        self._clock = clock
        self.on_cellular = on_cellular

    def refusal(self, nbytes: int) -> str | None:
        """Why `nbytes` of model may not move now (None: it may)."""
        cellular = self.on_cellular()
        if not cellular or self._policy.daily_cellular_data_mb is None:
            return None  # no ledger read on the common path
        return transfer_refusal(
            self._policy,
            on_cellular=cellular,
            cellular_bytes_today=self._ledger.today_in(self._zone, self._clock()).cellular_bytes,
            transfer_bytes=nbytes,
        )

    def record(self, model_hash: bytes, direction: str, nbytes: int, *, cellular: bool) -> None:
        """Count a transfer in the ledger; never raises (the ledger must not stop a transfer)."""
        if nbytes <= 0:
            return
        try:
            self._ledger.record_model_transfer(
                model=model_hash.hex(), direction=direction, nbytes=nbytes, cellular=cellular
            )
        except Exception:
            log.exception("could not record a model %s in the ledger", direction)
