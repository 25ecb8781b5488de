"""Node configuration: one TOML file (see examples/node.toml), overridable by flags."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from p2pfleet.core.policy import OwnerPolicy
from p2pfleet.node.config_sections import (
    POLICY_KEYS,
    VEHICLE_KEYS,
    SectionErrors,
    parse_policy,
    parse_vehicle,
)
from p2pfleet.node.network_config import NetworkConfig, network_config_from_dict
from p2pfleet.node.vehicle import SimulatedVehicleConfig
from p2pfleet.node.vehicle_json import JsonVehicleConfig


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
    vehicle: SimulatedVehicleConfig | JsonVehicleConfig = field(
        default_factory=SimulatedVehicleConfig
    )
    policy: OwnerPolicy = field(default_factory=OwnerPolicy)
    inject_fault: str | None = None  # testing only: see p2pfleet.testing.faults
    control_address: str = "127.0.0.1:0"  # local status endpoint; "" disables it
    metrics_address: str = ""  # Prometheus /metrics, e.g. "127.0.0.1:9464"; "" = off
    drain_grace_s: float = 20.0  # on SIGTERM, let running shards finish this long
    task_time_limit_s: float = 600.0  # per shard, in the worker process
    worker_memory_mb: int = 2048  # address-space cap per worker process; 0: none
    model_cache_bytes: int | None = None  # model store size limit (LRU eviction); None: no limit
    network: NetworkConfig = field(default_factory=NetworkConfig)
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

    @property
    def control_file(self) -> Path:
        """Where the running daemon writes its control endpoint's URL."""
        return self.data_dir / "control.json"


_SECTIONS = {"node", "vehicle", "policy", "network"}
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
    "control_address",
    "metrics_address",
    "drain_grace_s",
    "task_time_limit_s",
    "worker_memory_mb",
    "model_cache_bytes",
    "region_cert_file",
}
_VEHICLE_KEYS = VEHICLE_KEYS
_POLICY_KEYS = POLICY_KEYS


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
    kwargs: dict[str, Any] = {}
    errors = SectionErrors("[vehicle]")
    if vehicle:
        kwargs["vehicle"] = parse_vehicle(vehicle, errors)
    policy_errors = SectionErrors("[policy]")
    if policy:
        kwargs["policy"] = parse_policy(policy, policy_errors)
    problems = errors.messages + policy_errors.messages + _node_problems(node)
    if problems:
        raise ConfigError("\n".join(problems))
    for key in (
        "region",
        "tier_watts",
        "advert_interval_s",
        "advert_ttl_s",
        "control_address",
        "metrics_address",
        "drain_grace_s",
        "task_time_limit_s",
        "worker_memory_mb",
    ):
        if key in node:
            kwargs[key] = node[key]
    if "model_cache_bytes" in node:
        kwargs["model_cache_bytes"] = _model_cache_bytes(node["model_cache_bytes"])
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
        if "network" in doc:
            kwargs["network"] = network_config_from_dict(doc["network"])
        kwargs.update({k: v for k, v in overrides.items() if v is not None})
        return NodeConfig(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc


def _node_problems(node: dict[str, Any]) -> list[str]:
    problems = []
    for key in ("control_address", "metrics_address"):
        value = node.get(key, "")
        if not isinstance(value, str) or (value and not _is_host_port(value)):
            problems.append(f"[node] {key}: expected 'host:port' (or \"\" for off), got {value!r}")
    for key, low in (("drain_grace_s", 0.0), ("task_time_limit_s", 0.001)):
        value = node.get(key, low)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
            problems.append(f"[node] {key}: expected seconds >= {low:g}, got {value!r}")
    memory = node.get("worker_memory_mb", 0)
    if isinstance(memory, bool) or not isinstance(memory, int) or not (memory == 0 or memory >= 64):
        problems.append(f"[node] worker_memory_mb: expected 0 (no cap) or >= 64, got {memory!r}")
    return problems


def _is_host_port(value: str) -> bool:
    host, _, port = value.rpartition(":")
    return bool(host) and port.isdigit() and int(port) <= 65535


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


def _model_cache_bytes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 << 20:
        raise ConfigError("[node] model_cache_bytes must be an integer number of bytes >= 1048576")
    return value
