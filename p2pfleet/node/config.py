"""Node configuration: one TOML file (see examples/node.toml), overridable by flags."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from p2pfleet.core.advert import VehicleState
from p2pfleet.core.policy import OwnerPolicy
from p2pfleet.node.vehicle import SimulatedVehicleConfig


class ConfigError(ValueError):
    """The configuration file is invalid; the message names the key and the fix."""


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("p2pfleet"))


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeConfig:
    data_dir: Path = field(default_factory=default_data_dir)
    key_file: Path | None = None  # default: <data_dir>/node.key
    listen: tuple[str, ...] = ("/ip4/0.0.0.0/tcp/4001",)
    bootstrap: tuple[str, ...] = ()
    region: str = "local"
    owner: bytes | None = None  # owner public key; default: the node's own key
    tier_watts: int = 300
    advert_interval_s: float = 10.0
    advert_ttl_s: float = 30.0
    vehicle: SimulatedVehicleConfig = field(default_factory=SimulatedVehicleConfig)
    policy: OwnerPolicy = field(default_factory=OwnerPolicy)
    inject_fault: str | None = None  # testing only: see p2pfleet.testing.faults
    region_cert: bytes | None = None  # sealed region certificate carried in adverts

    @property
    def key_path(self) -> Path:
        return self.key_file or self.data_dir / "node.key"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def ledger_path(self) -> Path:
        return self.data_dir / "ledger.sqlite3"


_SECTIONS = {"node", "vehicle", "policy"}
_NODE_KEYS = {
    "data_dir",
    "key_file",
    "listen",
    "bootstrap",
    "region",
    "owner",
    "tier_watts",
    "advert_interval_s",
    "advert_ttl_s",
    "region_cert_file",
}
_VEHICLE_KEYS = {"adapter", "state", "battery_pct", "plugged_in", "parked_for_s"}
_POLICY_KEYS = {
    "enabled",
    "min_battery_pct",
    "hysteresis_pct",
    "only_when_plugged_in",
    "daily_energy_budget_wh",
    "max_concurrent_tasks",
}


def load_node_config(path: Path, **overrides: Any) -> NodeConfig:
    """Parse a node TOML file; relative paths are relative to the file's folder."""
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return node_config_from_dict(doc, base=path.parent, **overrides)


def node_config_from_dict(doc: dict[str, Any], *, base: Path, **overrides: Any) -> NodeConfig:
    _check_keys(doc, _SECTIONS, "top level")
    node = doc.get("node", {})
    vehicle = doc.get("vehicle", {})
    policy = doc.get("policy", {})
    _check_keys(node, _NODE_KEYS, "[node]")
    _check_keys(vehicle, _VEHICLE_KEYS, "[vehicle]")
    _check_keys(policy, _POLICY_KEYS, "[policy]")
    if vehicle.get("adapter", "simulated") != "simulated":
        raise ConfigError("[vehicle] adapter: only 'simulated' is supported in this version")
    kwargs: dict[str, Any] = {}
    for key in ("region", "tier_watts", "advert_interval_s", "advert_ttl_s"):
        if key in node:
            kwargs[key] = node[key]
    for key in ("data_dir", "key_file"):
        if key in node:
            kwargs[key] = (base / node[key]).resolve()
    for key in ("listen", "bootstrap"):
        if key in node:
            kwargs[key] = tuple(str(a) for a in node[key])
    if "owner" in node:
        try:
            kwargs["owner"] = bytes.fromhex(node["owner"])
        except (TypeError, ValueError):
            raise ConfigError("[node] owner must be a 64-digit hex public key") from None
    if "region_cert_file" in node:
        kwargs["region_cert"] = load_region_cert_file(base / node["region_cert_file"])
    try:
        if vehicle:
            fields = {k: v for k, v in vehicle.items() if k != "adapter"}
            if "state" in fields:
                fields["state"] = VehicleState(fields["state"])
            kwargs["vehicle"] = SimulatedVehicleConfig(**fields)
        if policy:
            kwargs["policy"] = OwnerPolicy(**policy)
        kwargs.update({k: v for k, v in overrides.items() if v is not None})
        return NodeConfig(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc


def load_region_cert_file(path: Path) -> bytes:
    """A region certificate (hex, from `p2pfleet region-cert issue`), checked for shape."""
    from p2pfleet.core.errors import RemoteProtocolError
    from p2pfleet.core.region_cert import open_region_cert

    try:
        wire = bytes.fromhex(path.read_text().strip())
        open_region_cert(wire)
    except FileNotFoundError:
        raise ConfigError(f"[node] region_cert_file {path} not found") from None
    except (ValueError, RemoteProtocolError) as exc:
        raise ConfigError(
            f"[node] region_cert_file {path}: not a region certificate: {exc}"
        ) from exc
    return wire


def _check_keys(section: object, allowed: set[str], where: str) -> None:
    if not isinstance(section, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
