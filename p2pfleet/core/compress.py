"""zstd compression for shard inputs and outputs, with a hard output cap."""

from __future__ import annotations

import zstandard

from p2pfleet.core.errors import DecodeError, LimitExceededError

_LEVEL = 3


def compress(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=_LEVEL, write_content_size=True).compress(data)


def decompress(data: bytes, *, max_output: int) -> bytes:
    """Decompress one zstd frame; never produces more than `max_output` bytes."""
    reader = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=False)
    chunks: list[bytes] = []
    total = 0
    try:
        while True:
            chunk = reader.read(min(1 << 20, max_output + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_output:
                raise LimitExceededError(f"zstd output exceeds the {max_output}-byte cap")
    except zstandard.ZstdError as exc:
        raise DecodeError(f"malformed zstd data: {exc}") from exc
    return b"".join(chunks)
