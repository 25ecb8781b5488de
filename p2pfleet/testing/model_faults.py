"""Misbehaving model providers for the fetch tests: liars and a flaky link.

Each is a real ModelService serving `/p2pfleet/model/0.1.0` on a real host; it
only changes what `send_model` puts on the wire.
"""

from __future__ import annotations

import numpy as np

from p2pfleet.core.model_fetch import Chunk, End, Have, chunks_of, encode_fetch_message
from p2pfleet.net.streams import FramedStream
from p2pfleet.node.model_service import ModelService

LIES = ("none", "garbage", "wrong-size", "short", "overrun")


class LyingModelService(ModelService):
    """A corrupt provider (or, with lie="none", an honest one that records its requests).

    garbage: right size, every byte flipped (only the final SHA-256 can tell);
    wrong-size: declares and sends 4 KiB more than the model;
    short: declares the true size but ends halfway;
    overrun: sends a chunk running past its declared size.
    """

    lie = "garbage"
    requested_offsets: list[int]

    async def send_model(self, stream: FramedStream, data: bytes, offset: int) -> None:
        self.requested_offsets = [*getattr(self, "requested_offsets", []), offset]
        if self.lie == "garbage":
            data = (np.frombuffer(data, np.uint8) ^ 0x5A).tobytes()
        elif self.lie == "wrong-size":
            data = data + bytes(4096)
        elif self.lie == "short":
            await stream.send(encode_fetch_message(Have(size=len(data), offset=offset)))
            for chunk in chunks_of(data[: len(data) // 2], offset):
                await stream.send(encode_fetch_message(chunk))
            await stream.send(encode_fetch_message(End()))
            return await stream.close()
        elif self.lie == "overrun":
            await stream.send(encode_fetch_message(Have(size=1000, offset=offset)))
            await stream.send(encode_fetch_message(Chunk(offset=offset, data=data[:2000])))
            return await stream.close()
        await super().send_model(stream, data, offset)


class ResettingModelService(ModelService):
    """An honest provider whose first upload is cut (stream reset) after `cut_after` bytes."""

    cut_after = 1 << 20
    requested_offsets: list[int]

    async def send_model(self, stream: FramedStream, data: bytes, offset: int) -> None:
        self.requested_offsets = [*getattr(self, "requested_offsets", []), offset]
        if len(self.requested_offsets) > 1:
            return await super().send_model(stream, data, offset)
        await stream.send(encode_fetch_message(Have(size=len(data), offset=offset)))
        for chunk in chunks_of(data[: offset + self.cut_after], offset):
            await stream.send(encode_fetch_message(chunk))
        await stream.reset()
