"""Tearing py-libp2p objects down without letting their errors escape (pitfalls 2 and 5)."""

from __future__ import annotations

import logging
from typing import Any

import trio

from p2pfleet.net.errors import describe

logger = logging.getLogger("p2pfleet.net.host")

CLOSE_TIMEOUT = 5.0
RESET_TIMEOUT = 2.0


async def close_libp2p_host(libp2p_host: Any) -> None:
    """Close all connections concurrently (each costs ~0.1 s in libp2p), then the host."""
    with trio.move_on_after(CLOSE_TIMEOUT) as scope:
        scope.shield = True
        swarm = libp2p_host.get_network()
        try:
            async with trio.open_nursery() as nursery:
                for conns in list(swarm.connections.values()):
                    for conn in list(conns):
                        nursery.start_soon(_close_quietly, conn)
            await libp2p_host.close()
        except Exception as exc:
            logger.warning("error while closing libp2p host: %s", describe(exc))
    if scope.cancelled_caught:
        logger.warning("closing libp2p host took over %.1f s; abandoned", CLOSE_TIMEOUT)


async def _close_quietly(conn: Any) -> None:
    try:
        await conn.close()
    except Exception as exc:
        logger.debug("closing connection: %s", describe(exc))


async def reset_quietly(net_stream: Any) -> None:
    with trio.move_on_after(RESET_TIMEOUT) as scope:
        scope.shield = True
        try:
            await net_stream.reset()
        except Exception as exc:
            logger.debug("resetting stream: %s", describe(exc))


def stop_seen_cache_thread(pubsub: Any) -> None:
    """Stop the seen-messages sweeper thread Pubsub never stops (pitfall 5)."""
    try:
        pubsub.seen_messages.stop()
    except Exception as exc:
        logger.debug("stopping pubsub seen-cache thread: %s", describe(exc))
