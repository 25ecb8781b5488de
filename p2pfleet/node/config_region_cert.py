"""A node checks the region certificate it carries before it advertises it.

A certificate issued for another key, for another region or already expired
would be refused by every submitter that checks attestations, so the node
refuses to start with one (and `p2pfleet node --check-config` says so),
naming what the certificate says, what the node has and the command that
issues a matching one. A certificate close to its end is accepted with a
warning, so the owner can renew it in time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from p2pfleet.core.identity import peer_id_from_public_key
from p2pfleet.core.region_cert import open_region_cert
from p2pfleet.node.config import ConfigError, NodeConfig

EXPIRY_WARNING_S = 7 * 86400


def _when(unix_s: int) -> str:
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _reissue(node_key: bytes, region: str) -> str:
    return (
        "ask the region authority for a certificate for this node: `p2pfleet region-cert issue"
        f" --authority-key AUTHORITY.key --node {peer_id_from_public_key(node_key)}"
        f" --region {region} --out region.cert`"
    )


def check_own_region_cert(
    wire: bytes, *, node_key: bytes, region: str, now_s: int, key_path: Path | None = None
) -> list[str]:
    """Warnings (empty if none) for a certificate this node may carry.

    Raises ConfigError if the certificate names another key or another region,
    or has expired; warns if it expires within EXPIRY_WARNING_S or is not valid yet.
    """
    cert = open_region_cert(wire).cert  # shape and signature were checked when loading
    where = f" (key file {key_path})" if key_path is not None else ""
    if cert.node_key != node_key:
        raise ConfigError(
            "[node] region_cert_file: the certificate was issued for node"
            f" {peer_id_from_public_key(cert.node_key)}, but this node is"
            f" {peer_id_from_public_key(node_key)}{where}; {_reissue(node_key, region)}"
        )
    if cert.region != region:
        raise ConfigError(
            f"[node] region_cert_file: the certificate is for region {cert.region!r}, but this"
            f" node is configured for {region!r}; set [node] region = {cert.region!r} or"
            f" {_reissue(node_key, region)}"
        )
    if now_s >= cert.not_after_s:
        raise ConfigError(
            f"[node] region_cert_file: the certificate expired at {_when(cert.not_after_s)};"
            f" {_reissue(node_key, region)}"
        )
    warnings = []
    if now_s < cert.not_before_s:
        warnings.append(
            f"region certificate is not valid until {_when(cert.not_before_s)}; until then"
            " submitters treat this node's region as self-declared"
        )
    left_s = cert.not_after_s - now_s
    if left_s <= EXPIRY_WARNING_S:
        warnings.append(
            f"region certificate expires at {_when(cert.not_after_s)}"
            f" (in {left_s / 86400:.1f} days); {_reissue(node_key, region)}"
        )
    return warnings


def region_cert_warnings(config: NodeConfig, node_key: bytes, now_s: int) -> list[str]:
    """`check_own_region_cert` for the certificate `config` carries, if any."""
    if config.region_cert is None:
        return []
    return check_own_region_cert(
        config.region_cert,
        node_key=node_key,
        region=config.region,
        now_s=now_s,
        key_path=config.key_path,
    )


def check_config_region_cert(config: NodeConfig, now_s: int) -> list[str]:
    """For `--check-config`: read the node's key file (never create it) and check the certificate.

    Raises ConfigError if the node may not carry its certificate (a missing key
    counts: the node would create a new key the certificate cannot name).
    """
    from p2pfleet.core.errors import KeyFileError
    from p2pfleet.keys import load_key_file

    if config.region_cert is None:
        return []
    if not config.key_path.exists():
        named = peer_id_from_public_key(open_region_cert(config.region_cert).cert.node_key)
        raise ConfigError(
            f"[node] region_cert_file: the certificate was issued for node {named}, but this"
            f" node has no key yet at {config.key_path} (it would create a new one); put the"
            " key that certificate was issued for there (mode 0600), or start the node without"
            " the certificate once and have one issued for its new key"
        )
    try:
        identity = load_key_file(config.key_path)
    except KeyFileError as exc:
        raise ConfigError(str(exc)) from exc
    return region_cert_warnings(config, identity.public_key, now_s)
