"""Stream handler guards: a failing handler costs one reset stream, never the host.

py-libp2p tears down the whole host when an exception escapes a stream
handler (pitfall 1). `serve_guarded` runs p2pfleet's framed handlers;
`guard_libp2p_handler` wraps the raw handlers libp2p services register
themselves (Kademlia, circuit relay). trio.Cancelled always passes through.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from libp2p.custom_types import TProtocol

from p2pfleet.net.error_mapping import split_errors
from p2pfleet.net.errors import NetError, describe, leaf_exceptions
from p2pfleet.net.streams import FramedStream
from p2pfleet.net.teardown import reset_quietly

logger = logging.getLogger("p2pfleet.net.host")

StreamHandler = Callable[[FramedStream], Awaitable[None]]


@dataclass(slots=True)
class Counters:
    streams_opened: int = 0
    streams_accepted: int = 0
    handler_errors: int = 0
    frames_rejected: int = 0

    def count_rejected_frame(self) -> None:
        self.frames_rejected += 1


async def serve_guarded(
    net_stream: Any, protocol_id: str, handler: StreamHandler, counters: Counters
) -> None:
    counters.streams_accepted += 1
    try:
        stream = FramedStream(
            net_stream, protocol_id, on_frame_rejected=counters.count_rejected_frame
        )
    except ValueError as exc:
        logger.warning("refusing inbound %s stream: %s", protocol_id, exc)
        await reset_quietly(net_stream)
        return
    try:
        await handler(stream)
    except BaseException as exc:
        errors, rest = split_errors(exc)
        if errors is not None:
            counters.handler_errors += 1
            if all(isinstance(leaf, NetError) for leaf in leaf_exceptions(errors)):
                # The peer's doing (went away, broke framing): not a bug here.
                logger.info(
                    "%s stream from %s ended: %s",
                    protocol_id,
                    stream.remote_peer,
                    describe(errors),
                )
            else:
                logger.error(
                    "handler for %s failed on a stream from %s; stream reset, host keeps serving",
                    protocol_id,
                    stream.remote_peer,
                    exc_info=errors,
                )
        await stream.reset()
        if rest is not None:
            raise rest from None
        return
    await stream.close()


def guard_libp2p_handler(libp2p_host: Any, protocol_id: TProtocol, counters: Counters) -> None:
    """Re-register libp2p's own handler for `protocol_id` behind a guard."""
    handler: Callable[[Any], Awaitable[None]] = libp2p_host.get_mux().handlers[protocol_id]

    async def guarded(stream: Any) -> None:
        counters.streams_accepted += 1
        try:
            await handler(stream)
        except BaseException as exc:
            errors, rest = split_errors(exc)
            if errors is not None:
                counters.handler_errors += 1
                logger.info("%s stream failed and was reset: %s", protocol_id, describe(errors))
                await reset_quietly(stream)
            if rest is not None:
                raise rest from None

    libp2p_host.set_stream_handler(protocol_id, guarded)
