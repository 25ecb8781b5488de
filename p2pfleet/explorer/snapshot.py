"""A passive view of the fleet: who is out there and what they advertise."""

from __future__ import annotations

from typing import Any

from p2pfleet.core.advert import SignedAdvert
from p2pfleet.core.identity import key_fingerprint


def advert_row(signed: SignedAdvert, now_ms: int) -> dict[str, Any]:
    advert = signed.advert
    return {
        "peer": signed.peer_id,
        "owner": key_fingerprint(advert.owner),
        "state": advert.state.value,
        "battery_pct": advert.battery_pct,
        "departure_in_s": None
        if advert.departure_ms is None
        else round((advert.departure_ms - now_ms) / 1000),
        "tier_watts": advert.tier_watts,
        "free_slots": advert.free_slots,
        "energy_left_wh": advert.energy_left_wh,
        "region": advert.region,
        "attested": advert.region_cert is not None,
        "models": [m.hex() for m in advert.models],
        "addrs": list(advert.addrs),
        "seq": advert.seq,
        "age_s": round((now_ms - advert.issued_at_ms) / 1000, 1),
        "expires_in_s": round((advert.expires_at_ms - now_ms) / 1000, 1),
    }


def snapshot(adverts: list[SignedAdvert], now_ms: int) -> dict[str, Any]:
    rows = sorted((advert_row(s, now_ms) for s in adverts), key=lambda r: (r["region"], r["peer"]))
    available = [r for r in rows if r["state"] in ("parked", "charging") and r["free_slots"] > 0]
    return {
        "peers": rows,
        "summary": {
            "peers": len(rows),
            "available": len(available),
            "free_slots": sum(r["free_slots"] for r in available),
            "available_watts": sum(r["tier_watts"] for r in available),
        },
    }
