"""The `[network]` table of node.toml: DHT mode, relays, relay service (README, "Overlay")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The values of p2pfleet.net.dht.DhtMode, spelled out: importing the net layer
# (and libp2p, ~1 s) just to check a config file would slow `--check-config`.
DHT_MODES = ("auto", "server", "client", "off")
_KEYS = {"dht_mode", "relays", "relay_service", "discovery_interval_s"}


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkConfig:
    dht_mode: str = "auto"  # auto: DHT server when directly reachable, client otherwise
    relays: tuple[str, ...] = ()  # full relay addresses (.../p2p/<id>) to reserve a slot on
    relay_service: bool = False  # act as a circuit relay v2 for NATed vehicles
    discovery_interval_s: float = 30.0  # DHT walk and connect-to-watermark period

    def __post_init__(self) -> None:
        if self.dht_mode not in DHT_MODES:
            raise ValueError(
                f"[network] dht_mode {self.dht_mode!r} must be auto, server, client or off"
            )
        if self.discovery_interval_s <= 0:
            raise ValueError("[network] discovery_interval_s must be > 0")

    def host_options(self) -> dict[str, Any]:
        """Keyword arguments for `HostConfig`."""
        return {
            "dht_mode": self.dht_mode,
            "relays": self.relays,
            "relay_service": self.relay_service,
            "discovery_interval": self.discovery_interval_s,
        }


def network_config_from_dict(table: object) -> NetworkConfig:
    """Parse `[network]`; ValueError names the bad key (the caller wraps it)."""
    if not isinstance(table, dict):
        raise ValueError("[network] must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ValueError(
            f"[network]: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS))}"
        )
    relays = table.get("relays", [])
    if not isinstance(relays, list) or not all(isinstance(a, str) for a in relays):
        raise ValueError("[network] relays must be a list of relay addresses (strings)")
    if not isinstance(table.get("relay_service", False), bool):
        raise ValueError("[network] relay_service must be true or false")
    return NetworkConfig(
        dht_mode=str(table.get("dht_mode", "auto")),
        relays=tuple(relays),
        relay_service=table.get("relay_service", False),
        discovery_interval_s=float(table.get("discovery_interval_s", 30.0)),
    )
