from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2pfleet.net.errors import FrameTooLargeError, MalformedFrameError
from p2pfleet.net.framing import (
    FrameHeader,
    encode_frame,
    encode_uvarint,
    parse_header,
)

LIMIT = 1 << 20


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"), (16384, "808001")],
)
def test_uvarint_vectors(value: int, encoded: str) -> None:
    assert encode_uvarint(value).hex() == encoded
    header = parse_header(bytes.fromhex(encoded), max_size=1 << 62)
    assert header == FrameHeader(header_size=len(encoded) // 2, payload_size=value)


@given(st.binary(max_size=3000), st.binary(max_size=20))
def test_frame_round_trip_with_trailing_bytes(payload: bytes, trailing: bytes) -> None:
    frame = encode_frame(payload)
    header = parse_header(frame + trailing, max_size=LIMIT)
    assert header is not None
    assert frame[header.header_size : header.header_size + header.payload_size] == payload


@given(st.integers(min_value=0, max_value=(1 << 63) - 1))
def test_every_prefix_of_a_varint_is_incomplete(value: int) -> None:
    encoded = encode_uvarint(value)
    for cut in range(len(encoded)):
        assert parse_header(encoded[:cut], max_size=1 << 63) is None


def test_declared_length_over_limit_is_too_large() -> None:
    with pytest.raises(FrameTooLargeError, match="1025"):
        parse_header(encode_uvarint(1025), max_size=1024)
    assert parse_header(encode_uvarint(1024), max_size=1024) is not None


def test_over_long_varint_is_malformed() -> None:
    with pytest.raises(MalformedFrameError):
        parse_header(b"\xff" * 9, max_size=LIMIT)
    assert parse_header(b"\xff" * 8, max_size=LIMIT) is None


def test_non_minimal_varint_is_malformed() -> None:
    with pytest.raises(MalformedFrameError, match="non-minimal"):
        parse_header(b"\x81\x00", max_size=LIMIT)


def test_encode_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        encode_uvarint(-1)
    with pytest.raises(ValueError):
        encode_uvarint(1 << 63)


def _spec_vectors() -> list[tuple[str, int, str]]:
    """The framing vector table of protocol/transport.md: (hex, max_frame, result)."""
    spec = Path(__file__).resolve().parents[2] / "protocol" / "transport.md"
    rows = []
    for line in spec.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"\| `([0-9a-f]+)`[^|]* \| ([^|]+) \| ([^|]+) \|", line.strip())
        if match:
            limit = match.group(2).strip().lstrip("≥ ")
            rows.append((match.group(1), 1 << 62 if limit == "any" else int(limit), match.group(3)))
    return rows


def test_spec_vectors_hold() -> None:
    vectors = _spec_vectors()
    assert len(vectors) >= 9
    for hex_input, max_frame, result in vectors:
        data = bytes.fromhex(hex_input)
        if result.startswith("length"):
            length, header = (int(n) for n in re.findall(r"\d+", result))
            assert parse_header(data, max_size=max_frame) == FrameHeader(
                header_size=header, payload_size=length
            ), hex_input
        elif result.startswith("frame too large"):
            with pytest.raises(FrameTooLargeError):
                parse_header(data, max_size=max_frame)
        elif result.startswith("malformed"):
            with pytest.raises(MalformedFrameError):
                parse_header(data, max_size=max_frame)
        else:
            assert result.startswith("incomplete"), result
            assert parse_header(data, max_size=max_frame) is None
