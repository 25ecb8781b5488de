"""Multiaddr and protocol-id parsing at the edge: ValueError with a fix-it hint."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import multiaddr
import trio
from libp2p.peer.peerinfo import info_from_p2p_addr

from p2pfleet.net.errors import NetError

logger = logging.getLogger("p2pfleet.net.host")

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


async def check_ports_free(listen: Sequence[Any]) -> None:
    """Refuse a fixed listen port another socket holds.

    py-libp2p listens with SO_REUSEPORT, so a second node on the same port
    would start fine and the kernel would split incoming connections between
    the two. A probe without SO_REUSEPORT fails if the port is taken.
    """
    for addr in listen:
        ip4, ip6, port = (_value(addr, name) for name in ("ip4", "ip6", "tcp"))
        if port in (None, "0") or (ip4 is None and ip6 is None):
            continue
        family = trio.socket.AF_INET if ip4 is not None else trio.socket.AF_INET6
        with trio.socket.socket(family, trio.socket.SOCK_STREAM) as probe:
            # SO_REUSEADDR only tolerates TIME_WAIT leftovers of a restart.
            probe.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_REUSEADDR, 1)
            try:
                await probe.bind((ip4 or ip6, int(port)))
            except OSError as exc:
                raise NetError(
                    f"could not listen on {addr}: {exc.strerror or exc}. Is another node "
                    "or program using that port? Pick another port or stop it."
                ) from exc


def _value(addr: Any, protocol: str) -> str | None:
    try:
        value = addr.value_for_protocol(protocol)
    except Exception:  # ProtocolLookupError: the address has no such part
        return None
    return None if value is None else str(value)


def split_peer_addrs(peer_id: str, addrs: Sequence[str]) -> tuple[list[Any], list[str]]:
    """(dialable TCP multiaddrs without /p2p/, circuit addresses) of `peer_id`.

    Circuit addresses (`.../p2p/<relay>/p2p-circuit`) are kept as text, without
    the peer's own suffix: only the relay transport can dial them. Anything
    else that is not `/ip4|ip6|dns*/<host>/tcp/<port>[/p2p/<peer_id>]` is
    skipped and logged at debug level.
    """
    tcp: list[Any] = []
    circuits: list[str] = []
    for addr in addrs:
        if "/p2p-circuit" in addr:
            circuit = addr.removesuffix(f"/p2p/{peer_id}")
            if circuit.endswith("/p2p-circuit"):
                circuits.append(circuit)
            continue
        try:
            parsed = parse_tcp_multiaddr(addr)
            named = parsed.get_peer_id()
            if named is not None:
                if named != peer_id:
                    raise ValueError(f"address names peer {named}, not {peer_id}")
                parsed = parsed.decapsulate(multiaddr.Multiaddr(f"/p2p/{named}"))
            tcp.append(parsed)
        except ValueError as exc:
            logger.debug("skipping address %r of %s: %s", addr, peer_id, exc)
    return tcp, circuits
