#!/usr/bin/env python3
"""Print the encoded size of typical and worst-case adverts (protocol/advert.md, Size budget).

python tools/advert_size.py
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from p2pfleet.core.advert import ADVERT_BUDGET_BYTES, Advert, VehicleState, sign_advert
from p2pfleet.core.identity import Identity
from p2pfleet.core.limits import MAX_ADVERT_BYTES

NODE = Identity(bytes(range(32)))
RELAY = Identity(bytes([0x52] * 32)).peer_id
T0 = 1_795_000_000_000
IP4 = "/ip4/203.0.113.77/tcp/40001"
IP6 = "/ip6/2001:db8:85a3::8a2e:370:7334/tcp/40001"
CIRCUIT = f"/ip4/198.51.100.7/tcp/4001/p2p/{RELAY}/p2p-circuit"


def advert(models: int, addrs: tuple[str, ...], cert: int | None, region: str) -> Advert:
    return Advert(
        owner=Identity(bytes(range(32, 64))).public_key,
        seq=T0 + 1,
        issued_at_ms=T0,
        ttl_ms=60_000,
        state=VehicleState.CHARGING,
        battery_pct=80,
        departure_ms=T0 + 8 * 3_600_000,
        tier_watts=275,
        free_slots=2,
        energy_left_wh=4000,
        models=tuple(hashlib.sha256(b"%d" % i).digest() for i in range(models)),
        region=region,
        region_cert=None if cert is None else bytes(cert),
        addrs=addrs,
    )


CASES = [
    ("typical: 8 models, ip4 + ip6, region", advert(8, (IP4, IP6), None, "eu-west-paris")),
    ("behind NAT: 8 models, 1 circuit addr", advert(8, (CIRCUIT,), None, "eu-west-paris")),
    ("8 models, ip6 + circuit, 150 B cert", advert(8, (IP6, CIRCUIT), 150, "eu-west-paris")),
    (
        "budget case: 8 models, 4 addrs (1 circuit), 150 B cert",
        advert(8, (IP4, IP6, "/ip6/2001:db8::77/tcp/40001", CIRCUIT), 150, "eu-west-paris"),
    ),
    (
        "beyond budget: 8 models, 2 ip6 + 2 circuit, 256 B cert, 64-char region",
        advert(8, (IP6, IP6, CIRCUIT, CIRCUIT.replace("198.51", "192.0")), 256, "r" * 64),
    ),
    ("minimal: no models, addrs, region", advert(0, (), None, "")),
]


def main() -> int:
    print(f"{'advert':<72} {'payload':>7} {'sealed':>6}  budget {ADVERT_BUDGET_BYTES}")
    for name, item in CASES:
        sealed = len(sign_advert(NODE, item).wire)
        verdict = "ok" if sealed <= ADVERT_BUDGET_BYTES else f"over (hard cap {MAX_ADVERT_BYTES})"
        print(f"{name:<72} {len(item.to_payload()):>7} {sealed:>6}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
