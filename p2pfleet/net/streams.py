"""FramedStream: one libp2p stream carrying length-prefixed frames.

Error rule (protocol/transport.md): a malformed or oversized frame resets the
stream and raises a typed error; it never takes the node down.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import trio
from libp2p.exceptions import BaseLibp2pError

from p2pfleet.net.errors import (
    FrameTooLargeError,
    MalformedFrameError,
    NetError,
    StreamClosedError,
)
from p2pfleet.net.framing import encode_frame, parse_header
from p2pfleet.net.identity import ed25519_public_key_of

logger = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024
RESET_TIMEOUT = 2.0
# What a libp2p stream raises when the remote went away (closed, reset, dropped).
_STREAM_GONE: tuple[type[BaseException], ...] = (
    BaseLibp2pError,
    EOFError,
    ConnectionError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
)


class FramedStream:
    """A framed, authenticated stream to one remote peer.

    Concurrent `send`s are serialized; a second concurrent `receive` raises
    trio.BusyResourceError. `receive` is cancellation-safe: bytes of a partly received frame stay
    buffered for the next call.
    """

    protocol_id: str
    remote_peer: str
    remote_public_key: bytes

    def __init__(
        self,
        net_stream: Any,
        protocol_id: str,
        *,
        on_frame_rejected: Callable[[], None] | None = None,
    ) -> None:
        """Wrap a libp2p `INetStream`; ValueError if the remote is not Ed25519."""
        remote_id = net_stream.muxed_conn.peer_id
        self._stream = net_stream
        self.protocol_id = protocol_id
        self.remote_peer = str(remote_id.to_base58())
        self.remote_public_key = ed25519_public_key_of(remote_id)
        self._buffer = bytearray()
        self._on_frame_rejected = on_frame_rejected
        self._finished = False
        self._send_lock = trio.Lock()
        self._receiving = False

    def __repr__(self) -> str:
        return f"<FramedStream {self.protocol_id} with {self.remote_peer}>"

    async def send(self, payload: bytes) -> None:
        """Send one frame. StreamClosedError if the stream is gone."""
        if not isinstance(payload, bytes | bytearray | memoryview):
            raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
        try:
            async with self._send_lock:  # concurrent senders must not interleave frames
                await self._stream.write(encode_frame(bytes(payload)))
        except _STREAM_GONE as exc:
            raise StreamClosedError(
                f"cannot send on {self.protocol_id} to {self.remote_peer}: stream closed or reset"
            ) from exc

    async def receive(self, *, max_size: int) -> bytes:
        """Receive exactly one frame of at most `max_size` payload bytes.

        StreamClosedError if the remote closes or resets first;
        FrameTooLargeError / MalformedFrameError (after resetting the stream)
        if the remote breaks the framing.
        """
        if max_size < 0:
            raise ValueError(f"max_size must be >= 0, got {max_size}")
        if self._receiving:
            raise trio.BusyResourceError("another task is already receiving on this stream")
        self._receiving = True
        try:
            return await self._receive_frame(max_size)
        finally:
            self._receiving = False

    async def _receive_frame(self, max_size: int) -> bytes:
        while True:
            try:
                header = parse_header(self._buffer, max_size=max_size)
            except (FrameTooLargeError, MalformedFrameError) as exc:
                await self._reject(exc)
                raise
            if header is not None:
                end = header.header_size + header.payload_size
                if len(self._buffer) >= end:
                    payload = bytes(self._buffer[header.header_size : end])
                    del self._buffer[:end]
                    return payload
                wanted = end - len(self._buffer)
            else:
                wanted = 1
            await self._fill(max(wanted, 1))

    async def close(self) -> None:
        """Close the stream gracefully (idempotent; never raises NetError)."""
        if self._finished:
            return
        self._finished = True
        with trio.move_on_after(RESET_TIMEOUT) as scope:
            scope.shield = True
            with contextlib.suppress(*_STREAM_GONE):
                await self._stream.close()

    async def reset(self) -> None:
        """Abort the stream; the remote sees a reset (idempotent)."""
        self._finished = True
        with trio.move_on_after(RESET_TIMEOUT) as scope:
            scope.shield = True
            with contextlib.suppress(*_STREAM_GONE):
                await self._stream.reset()

    async def _fill(self, wanted: int) -> None:
        try:
            chunk = await self._stream.read(min(max(wanted, READ_CHUNK), READ_CHUNK * 16))
        except _STREAM_GONE as exc:
            raise StreamClosedError(self._closed_message()) from exc
        if not chunk:
            raise StreamClosedError(self._closed_message())
        self._buffer += chunk

    def _closed_message(self) -> str:
        state = "mid-frame" if self._buffer else "before a frame"
        return (
            f"{self.remote_peer} closed or reset the {self.protocol_id} stream {state} "
            f"({len(self._buffer)} bytes pending)"
        )

    async def _reject(self, exc: NetError) -> None:
        logger.info("resetting %s stream from %s: %s", self.protocol_id, self.remote_peer, exc)
        if self._on_frame_rejected is not None:
            self._on_frame_rejected()
        self._buffer.clear()
        await self.reset()
