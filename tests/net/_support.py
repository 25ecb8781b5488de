"""Helpers shared by the net tests."""

from __future__ import annotations

import hashlib

from p2pfleet.net.gossip import GossipConfig
from p2pfleet.net.host import HostConfig

ECHO = "/p2pfleet/test-echo/0.1.0"
FAST_GOSSIP = GossipConfig(heartbeat_interval=0.2, heartbeat_initial_delay=0.05)


def seed(name: str) -> bytes:
    return hashlib.sha256(b"p2pfleet-net-test/" + name.encode()).digest()


def config(
    name: str, *, bootstrap: tuple[str, ...] = (), gossip: GossipConfig | None = FAST_GOSSIP
) -> HostConfig:
    return HostConfig(seed=seed(name), bootstrap=bootstrap, gossip=gossip)


def port_of(addr: str) -> int:
    parts = addr.split("/")
    return int(parts[parts.index("tcp") + 1])
