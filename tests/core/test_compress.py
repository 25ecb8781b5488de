"""zstd with a hard output cap."""

from __future__ import annotations

import contextlib
import time

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from p2pfleet.core.compress import compress, decompress
from p2pfleet.core.errors import DecodeError, LimitExceededError
from p2pfleet.core.limits import MIB


@given(st.binary(max_size=4096))
def test_round_trip(data: bytes) -> None:
    assert decompress(compress(data), max_output=len(data)) == data


def test_output_cap_is_exact() -> None:
    data = bytes(range(256)) * 4
    assert decompress(compress(data), max_output=1024) == data
    with pytest.raises(LimitExceededError):
        decompress(compress(data), max_output=1023)


def test_zstd_bomb_is_stopped_quickly() -> None:
    bomb = compress(bytes(100 * MIB))
    assert len(bomb) < 64 * 1024
    started = time.perf_counter()
    with pytest.raises(LimitExceededError):
        decompress(bomb, max_output=1 * MIB)
    assert time.perf_counter() - started < 1.0


def test_bomb_without_content_size_header() -> None:
    compressor = zstandard.ZstdCompressor(write_content_size=False)
    chunks = compressor.compressobj()
    bomb = b"".join(chunks.compress(bytes(MIB)) for _ in range(32)) + chunks.flush()
    with pytest.raises(LimitExceededError):
        decompress(bomb, max_output=MIB)


@given(st.binary(max_size=200))
def test_garbage_is_a_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decompress(data, max_output=MIB)


def test_corrupt_frame_is_a_decode_error() -> None:
    frame = bytearray(compress(bytes(range(256)) * 64))
    frame[len(frame) // 2] ^= 0xFF
    frame[-1] ^= 0xFF
    with pytest.raises(DecodeError):
        decompress(bytes(frame), max_output=MIB)
