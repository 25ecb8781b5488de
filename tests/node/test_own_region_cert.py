"""A node refuses to carry a region certificate that submitters would refuse."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from p2pfleet.core.identity import Identity, peer_id_from_public_key
from p2pfleet.core.region_cert import RegionCert, issue_region_cert
from p2pfleet.keys import generate_key_file
from p2pfleet.node.config import ConfigError, NodeConfig
from p2pfleet.node.config_region_cert import EXPIRY_WARNING_S, check_own_region_cert
from p2pfleet.node.daemon import open_node
from tests.node.fleet_fixtures import LOOPBACK

REPO = Path(__file__).resolve().parents[2]
AUTHORITY = Identity(bytes([7]) * 32)
NOW = 1_800_000_000
DAY = 86400


def cert_for(node_key: bytes, *, region: str = "eu-west", ends_in_s: int = 90 * DAY) -> bytes:
    body = RegionCert(
        node_key=node_key, region=region, not_before_s=NOW - 60, not_after_s=NOW + ends_in_s
    )
    return issue_region_cert(AUTHORITY, body).wire


def check(wire: bytes, node_key: bytes, region: str = "eu-west", now_s: int = NOW) -> list[str]:
    return check_own_region_cert(wire, node_key=node_key, region=region, now_s=now_s)


MINE = Identity(bytes([1]) * 32).public_key
OTHER = Identity(bytes([2]) * 32).public_key


def test_a_valid_certificate_for_this_key_and_region_passes_quietly() -> None:
    assert check(cert_for(MINE), MINE) == []


def test_a_certificate_for_another_key_names_both_keys_and_the_fix() -> None:
    with pytest.raises(ConfigError) as caught:
        check(cert_for(OTHER), MINE)
    message = str(caught.value)
    assert peer_id_from_public_key(OTHER) in message
    assert peer_id_from_public_key(MINE) in message
    assert "p2pfleet region-cert issue" in message and "--region eu-west" in message


def test_a_certificate_for_another_region_is_refused() -> None:
    with pytest.raises(ConfigError, match="for region 'us-east', but this node is configured"):
        check(cert_for(MINE, region="us-east"), MINE)


def test_an_expired_certificate_is_refused() -> None:
    with pytest.raises(ConfigError, match="expired"):
        check(cert_for(MINE, ends_in_s=1), MINE, now_s=NOW + 1)  # ends now
    with pytest.raises(ConfigError, match="expired"):
        check(cert_for(MINE, ends_in_s=-59), MINE)


@pytest.mark.parametrize("ends_in_s", [3 * DAY, EXPIRY_WARNING_S])
def test_a_certificate_near_its_end_is_carried_with_a_warning(ends_in_s: int) -> None:
    warnings = check(cert_for(MINE, ends_in_s=ends_in_s), MINE)
    assert len(warnings) == 1
    assert "expires at" in warnings[0] and "region-cert issue" in warnings[0]
    assert check(cert_for(MINE, ends_in_s=EXPIRY_WARNING_S + 60), MINE) == []


def test_a_certificate_not_valid_yet_is_carried_with_a_warning() -> None:
    body = RegionCert(
        node_key=MINE, region="eu-west", not_before_s=NOW + DAY, not_after_s=NOW + 90 * DAY
    )
    warnings = check(issue_region_cert(AUTHORITY, body).wire, MINE)
    assert len(warnings) == 1 and "not valid until" in warnings[0]


def _node_config(tmp_path: Path, cert: bytes) -> NodeConfig:
    return NodeConfig(
        data_dir=tmp_path / "node", listen=LOOPBACK, region="eu-west", region_cert=cert
    )


def test_the_node_refuses_to_start_with_a_certificate_for_another_key(tmp_path: Path) -> None:
    config = _node_config(tmp_path, cert_for(OTHER))

    async def main() -> None:
        with pytest.raises(ConfigError, match="issued for node"):
            async with open_node(config):
                raise AssertionError("the node started with another key's certificate")

    trio.run(main)


def test_the_node_warns_and_advertises_a_certificate_near_its_end(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = generate_key_file(tmp_path / "node" / "node.key")
    body = RegionCert(
        node_key=key.public_key,
        region="eu-west",
        not_before_s=int(time.time()) - 60,
        not_after_s=int(time.time()) + 2 * DAY,
    )
    wire = issue_region_cert(AUTHORITY, body).wire
    config = _node_config(tmp_path, wire)

    async def main() -> None:
        with trio.fail_after(120):
            async with open_node(config) as node:
                assert node.current_advert().region_cert == wire

    with caplog.at_level(logging.WARNING, logger="p2pfleet.node"):
        trio.run(main)
    assert any("region certificate expires at" in r.getMessage() for r in caplog.records)


def _cli(tmp_path: Path, cert: bytes, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "region.cert").write_text(cert.hex() + "\n")
    config = tmp_path / "node.toml"
    config.write_text(
        "[node]\ndata_dir = 'node'\nregion = 'eu-west'\nregion_cert_file = 'region.cert'\n"
        "listen = ['/ip4/127.0.0.1/tcp/0']\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "p2pfleet", "node", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "COLUMNS": "400"},
        timeout=120,
    )


def test_check_config_reads_the_key_and_refuses_another_keys_certificate(tmp_path: Path) -> None:
    key = generate_key_file(tmp_path / "node" / "node.key")
    done = _cli(tmp_path, cert_for(OTHER), "--check-config")
    assert done.returncode == 2
    assert peer_id_from_public_key(OTHER) in done.stderr
    assert key.peer_id in done.stderr and "region-cert issue" in done.stderr


def test_check_config_without_a_key_never_creates_one(tmp_path: Path) -> None:
    done = _cli(tmp_path, cert_for(OTHER), "--check-config")
    assert done.returncode == 2 and "has no key yet" in done.stderr
    assert not (tmp_path / "node" / "node.key").exists()


def test_check_config_warns_about_a_certificate_near_its_end(tmp_path: Path) -> None:
    key = generate_key_file(tmp_path / "node" / "node.key")
    now = int(time.time())
    body = RegionCert(
        node_key=key.public_key, region="eu-west", not_before_s=now - 60, not_after_s=now + 3 * DAY
    )
    done = _cli(tmp_path, issue_region_cert(AUTHORITY, body).wire, "--check-config")
    assert done.returncode == 0, done.stderr
    assert "warning:" in done.stderr and "region certificate expires at" in done.stderr


def test_the_daemon_exits_2_with_an_expired_certificate(tmp_path: Path) -> None:
    key = generate_key_file(tmp_path / "node" / "node.key")
    now = int(time.time())
    body = RegionCert(
        node_key=key.public_key, region="eu-west", not_before_s=now - DAY, not_after_s=now - 60
    )
    done = _cli(tmp_path, issue_region_cert(AUTHORITY, body).wire)
    assert done.returncode == 2 and "expired" in done.stderr
