"""Multiaddr and protocol-id parsing at the edge: ValueError with a fix-it hint."""

from __future__ import annotations

import re
from typing import Any

import multiaddr
from libp2p.peer.peerinfo import info_from_p2p_addr

_PROTOCOL_ID_RE = re.compile(r"/[\x21-\x7e]{1,200}")


def check_protocol_id(protocol_id: str) -> None:
    """Protocol ids are multistream-select names: '/'-prefixed printable ASCII."""
    if not isinstance(protocol_id, str) or not _PROTOCOL_ID_RE.fullmatch(protocol_id):
        raise ValueError(
            f"protocol id must be '/'-prefixed printable ASCII without spaces, like "
            f"'/p2pfleet/task/0.1.0'; got {protocol_id!r}"
        )


def parse_multiaddr(addr: str) -> Any:
    """Any multiaddr (e.g. a listen address)."""
    try:
        return multiaddr.Multiaddr(addr)
    except Exception as exc:
        raise ValueError(f"not a valid multiaddr: {addr!r} ({exc})") from exc


_DIALABLE_HOSTS = frozenset({"ip4", "ip6", "dns", "dns4", "dns6"})


def parse_tcp_multiaddr(addr: str) -> Any:
    """Parse `/ip4|ip6|dns*/<host>/tcp/<port>[/p2p/<id>]`, the only form we dial."""
    parsed = parse_multiaddr(addr)
    names = [p.name for p in parsed.protocols()]
    if names[-1:] == ["p2p"]:
        names = names[:-1]
    if len(names) != 2 or names[0] not in _DIALABLE_HOSTS or names[1] != "tcp":
        raise ValueError(f"{addr!r} is not a TCP address like /ip4/<address>/tcp/<port>")
    return parsed


def parse_peer_addr(addr: str) -> Any:
    """A full TCP multiaddr with `/p2p/<peer id>`, as a libp2p PeerInfo."""
    parsed = parse_tcp_multiaddr(addr)
    try:
        return info_from_p2p_addr(parsed)
    except Exception as exc:
        raise ValueError(
            f"{addr!r} must be a full multiaddr ending in /p2p/<peer id>, like "
            f"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW... ({exc})"
        ) from exc
