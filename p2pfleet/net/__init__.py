"""p2pfleet.net: the only code that touches py-libp2p (protocol/transport.md).

Importing this package is cheap; `import libp2p` (~1 s) happens on first use
of a name below, e.g. `from p2pfleet.net import open_host`.
`p2pfleet.net.errors` and `p2pfleet.net.framing` never import libp2p.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from p2pfleet.net.dht import DhtMode
    from p2pfleet.net.errors import (
        DialError,
        FrameTooLargeError,
        MalformedFrameError,
        NetError,
        ProtocolNegotiationError,
        StreamClosedError,
    )
    from p2pfleet.net.gossip import GossipConfig, GossipMessage, GossipStatistics, Subscription
    from p2pfleet.net.host import (
        FleetHost,
        HostConfig,
        HostStatistics,
        StreamHandler,
        open_host,
    )
    from p2pfleet.net.hosts import open_hosts
    from p2pfleet.net.identity import peer_id_from_public_key, peer_id_from_seed
    from p2pfleet.net.logs import configure_logging
    from p2pfleet.net.relay import RelayServiceLimits
    from p2pfleet.net.streams import FramedStream

_HOMES = {
    "DhtMode": "dht",
    "RelayServiceLimits": "relay",
    "DialError": "errors",
    "FrameTooLargeError": "errors",
    "MalformedFrameError": "errors",
    "NetError": "errors",
    "ProtocolNegotiationError": "errors",
    "StreamClosedError": "errors",
    "GossipConfig": "gossip",
    "GossipMessage": "gossip",
    "GossipStatistics": "gossip",
    "Subscription": "gossip",
    "FleetHost": "host",
    "HostConfig": "host",
    "HostStatistics": "host",
    "StreamHandler": "host",
    "open_host": "host",
    "open_hosts": "hosts",
    "peer_id_from_public_key": "identity",
    "peer_id_from_seed": "identity",
    "configure_logging": "logs",
    "FramedStream": "streams",
}

__all__ = [
    "DhtMode",
    "DialError",
    "FleetHost",
    "FrameTooLargeError",
    "FramedStream",
    "GossipConfig",
    "GossipMessage",
    "GossipStatistics",
    "HostConfig",
    "HostStatistics",
    "MalformedFrameError",
    "NetError",
    "ProtocolNegotiationError",
    "RelayServiceLimits",
    "StreamClosedError",
    "StreamHandler",
    "Subscription",
    "configure_logging",
    "open_host",
    "open_hosts",
    "peer_id_from_public_key",
    "peer_id_from_seed",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'p2pfleet.net' has no attribute {name!r}")
    return getattr(importlib.import_module(f"p2pfleet.net.{home}"), name)
