"""The [network] table of node.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from p2pfleet.net.dht import DhtMode
from p2pfleet.node.config import ConfigError, node_config_from_dict
from p2pfleet.node.network_config import DHT_MODES, NetworkConfig

RELAY = "/ip4/198.51.100.7/tcp/4001/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"


def test_network_table_reaches_the_host_config() -> None:
    doc = {
        "network": {
            "dht_mode": "client",
            "relays": [RELAY],
            "relay_service": True,
            "discovery_interval_s": 5,
        }
    }
    config = node_config_from_dict(doc, base=Path("."))
    assert config.network == NetworkConfig(
        dht_mode="client", relays=(RELAY,), relay_service=True, discovery_interval_s=5.0
    )
    assert config.network.host_options() == {
        "dht_mode": "client",
        "relays": (RELAY,),
        "relay_service": True,
        "discovery_interval": 5.0,
    }
    assert node_config_from_dict({}, base=Path(".")).network == NetworkConfig()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"dht_mode": "sometimes"}, "dht_mode"),
        ({"relays": RELAY}, "relays must be a list"),
        ({"relay_service": "yes"}, "relay_service"),
        ({"discovery_interval_s": 0}, "discovery_interval_s"),
        ({"relay": [RELAY]}, "unknown key"),
    ],
)
def test_bad_network_settings_are_clear_errors(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        node_config_from_dict({"network": table}, base=Path("."))


def test_dht_modes_match_the_net_layer() -> None:
    assert tuple(mode.value for mode in DhtMode) == DHT_MODES
