"""The peer table: the latest valid advert per node, with replay and expiry rules.

Theory of operation: an advert is admitted only if its signature verified
(`verify_advert`), it is not expired, not dated in the future beyond the
allowed clock skew, and its `seq` is strictly greater than the last admitted
one from the same node key. Anything else is dropped with a reason, so a
replayed or stale advert can never roll a node's state back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from p2pfleet.core.advert import MAX_CLOCK_SKEW_MS, SignedAdvert


class AdvertVerdict(StrEnum):
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    FROM_FUTURE = "from-future"
    REPLAYED = "replayed"  # same or older seq than one already seen


@dataclass(slots=True)
class PeerTable:
    """Latest advert per node key. Pure: the caller passes `now_ms`."""

    _entries: dict[bytes, SignedAdvert] = field(default_factory=dict)
    _highest_seq: dict[bytes, int] = field(default_factory=dict)

    def offer(self, signed: SignedAdvert, now_ms: int) -> AdvertVerdict:
        advert = signed.advert
        if advert.expires_at_ms <= now_ms:
            return AdvertVerdict.EXPIRED
        if advert.issued_at_ms > now_ms + MAX_CLOCK_SKEW_MS:
            return AdvertVerdict.FROM_FUTURE
        if advert.seq <= self._highest_seq.get(signed.node_key, -1):
            return AdvertVerdict.REPLAYED
        self._highest_seq[signed.node_key] = advert.seq
        self._entries[signed.node_key] = signed
        return AdvertVerdict.ACCEPTED

    def expire(self, now_ms: int) -> list[SignedAdvert]:
        """Drop and return entries whose TTL has run out (their seq memory stays)."""
        gone = [s for s in self._entries.values() if s.advert.expires_at_ms <= now_ms]
        for signed in gone:
            del self._entries[signed.node_key]
        return gone

    def live(self, now_ms: int) -> list[SignedAdvert]:
        return [s for s in self._entries.values() if s.advert.expires_at_ms > now_ms]

    def get(self, node_key: bytes) -> SignedAdvert | None:
        return self._entries.get(node_key)

    def __len__(self) -> int:
        return len(self._entries)
