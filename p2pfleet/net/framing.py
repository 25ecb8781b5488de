"""Length-prefixed framing, sans-IO: `uvarint(len(payload)) || payload`.

The length is an unsigned LEB128 varint as in the multiformats unsigned-varint
spec: minimal encoding, at most 9 bytes (63 bits). Parsing works on a buffer
and never consumes bytes, so an I/O shell can stop at any point (cancellation)
and resume with more bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from p2pfleet.net.errors import FrameTooLargeError, MalformedFrameError

MAX_VARINT_BYTES = 9


def encode_uvarint(value: int) -> bytes:
    """Encode a non-negative integer below 2**63 as a minimal unsigned varint."""
    if value < 0 or value >= 1 << (7 * MAX_VARINT_BYTES):
        raise ValueError(f"uvarint out of range: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_frame(payload: bytes) -> bytes:
    """One frame: the payload's length as a uvarint, then the payload."""
    return encode_uvarint(len(payload)) + payload


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameHeader:
    """A parsed length prefix: `header_size` bytes announcing `payload_size`."""

    header_size: int
    payload_size: int


def parse_header(buffer: bytes | bytearray, *, max_size: int) -> FrameHeader | None:
    """Parse the length prefix at the start of `buffer`.

    Returns None while the prefix is incomplete. Raises MalformedFrameError for
    an over-long or non-minimal varint, FrameTooLargeError when the declared
    payload size exceeds `max_size`.
    """
    value = 0
    for index, byte in enumerate(buffer[:MAX_VARINT_BYTES]):
        value |= (byte & 0x7F) << (7 * index)
        if byte & 0x80:
            continue
        if byte == 0 and index > 0:
            raise MalformedFrameError("frame length is a non-minimal varint (trailing zero byte)")
        if value > max_size:
            raise FrameTooLargeError(
                f"frame declares {value} bytes, over the {max_size}-byte limit of this protocol"
            )
        return FrameHeader(header_size=index + 1, payload_size=value)
    if len(buffer) >= MAX_VARINT_BYTES:
        raise MalformedFrameError(
            f"frame length varint is longer than {MAX_VARINT_BYTES} bytes "
            f"(starts {bytes(buffer[:MAX_VARINT_BYTES]).hex()})"
        )
    return None
