"""Only Noise is offered: a plaintext-only dialer gets no session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import multiaddr
import pytest
import trio
from libp2p import new_host
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport

from p2pfleet.net.host import open_host
from p2pfleet.net.identity import key_pair_from_seed

from ._support import config, seed


@asynccontextmanager
async def raw_libp2p_host(name: str, *, plaintext_only: bool) -> AsyncIterator[Any]:
    """A bare py-libp2p host: plaintext only, or py-libp2p's default security set."""
    key_pair = key_pair_from_seed(seed(name))
    sec_opt = (
        {TProtocol(PLAINTEXT_PROTOCOL_ID): InsecureTransport(key_pair)} if plaintext_only else None
    )
    listen = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
    host = new_host(
        key_pair=key_pair,
        sec_opt=sec_opt,
        connection_config=ConnectionConfig(max_connections_per_peer=1),
        listen_addrs=listen,
    )
    async with host.run(listen_addrs=listen):
        try:
            yield host
        finally:
            with trio.CancelScope(shield=True):
                await host.close()


async def plaintext_dial(dialer: Any, addr: str) -> bool:
    """True if the plaintext-only dialer got a connection within 5 s."""
    with trio.move_on_after(5):
        try:
            await dialer.connect(info_from_p2p_addr(multiaddr.Multiaddr(addr)))
        except Exception:
            return False
    return bool(dialer.get_network().get_connections())


async def test_plaintext_only_dialer_is_refused() -> None:
    async with (
        open_host(config("noise-only")) as fleet_host,
        raw_libp2p_host("plaintext-dialer", plaintext_only=True) as dialer,
    ):
        assert not await plaintext_dial(dialer, fleet_host.listen_addrs()[0])
        assert fleet_host.connected_peers() == []


async def test_control_py_libp2p_default_host_accepts_plaintext() -> None:
    # Shows the check above can fail: py-libp2p's defaults do offer plaintext.
    async with (
        raw_libp2p_host("default-listener", plaintext_only=False) as listener,
        raw_libp2p_host("plaintext-dialer", plaintext_only=True) as dialer,
    ):
        addr = f"{listener.get_transport_addrs()[0]}/p2p/{listener.get_id()}"
        if not await plaintext_dial(dialer, addr):
            pytest.fail("control failed: default py-libp2p host refused a plaintext dialer")
