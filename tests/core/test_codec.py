"""The canonical msgpack subset: round trips, uniqueness, limits, total error mapping."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pfleet.core import codec
from p2pfleet.core.errors import DecodeError, LimitExceededError
from p2pfleet.core.limits import ADVERT_LIMITS, CONTROL_LIMITS, DecodeLimits

WIDE = DecodeLimits(
    max_document=1 << 20, max_bin=1 << 16, max_str=1 << 16, max_array=1 << 10, max_map=1 << 10
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.binary(max_size=40)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


def same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return bool(a.hex() == b.hex())
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return set(a) == set(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


@given(values)
def test_round_trip(value: Any) -> None:
    data = codec.encode(value)
    assert same(codec.decode(data, WIDE), value)
    assert codec.encode(codec.decode(data, WIDE)) == data


@given(
    st.dictionaries(st.text(max_size=6), st.integers(-1000, 1000), min_size=2, max_size=8),
    st.randoms(),
)
def test_key_order_does_not_change_encoding(doc: dict[str, int], rnd: Any) -> None:
    items = list(doc.items())
    rnd.shuffle(items)
    shuffled = dict(items)
    assert codec.encode(shuffled) == codec.encode(doc)
    # any other key order on the wire is refused
    raw = msgpack.packb(shuffled, use_bin_type=True)
    if raw != codec.encode(doc):
        with pytest.raises(DecodeError, match="canonical"):
            codec.decode(raw, WIDE)


@given(st.integers(min_value=0, max_value=2**32))
def test_non_minimal_integer_encodings_are_refused(number: int) -> None:
    canonical = codec.encode(number)
    for wide in (b"\xcf" + number.to_bytes(8, "big"), b"\xd3" + number.to_bytes(8, "big")):
        if wide != canonical:
            with pytest.raises(DecodeError):
                codec.decode(wide, WIDE)


@given(st.binary(max_size=300))
@settings(max_examples=1000)
def test_arbitrary_bytes_only_raise_decode_errors(data: bytes) -> None:
    try:
        value = codec.decode(data, ADVERT_LIMITS)
    except DecodeError:
        return
    assert codec.encode(value) == data  # anything accepted is canonical


@given(values)
def test_mutated_documents_only_raise_decode_errors(value: Any) -> None:
    data = bytearray(codec.encode(value))
    for index in range(len(data)):
        mutated = bytearray(data)
        mutated[index] ^= 0x5A
        with contextlib.suppress(DecodeError):
            codec.decode(bytes(mutated), WIDE)


def test_bin_map_key_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        codec.decode(msgpack.packb({b"k": 1}, use_bin_type=True), WIDE)


def test_float32_is_refused_float64_is_canonical() -> None:
    assert codec.encode(1.5)[0] == 0xCB
    with pytest.raises(DecodeError):
        codec.decode(msgpack.packb(1.5, use_single_float=True), WIDE)


def test_encoder_rejects_values_outside_the_model() -> None:
    for bad in ({1: 2}, 2**64, -(2**63) - 1, object(), {1.5}):
        with pytest.raises(TypeError):
            codec.encode(bad)


@pytest.mark.parametrize(
    ("value", "limit"),
    [
        (b"x" * (ADVERT_LIMITS.max_bin + 1), "bin"),
        ("x" * (ADVERT_LIMITS.max_str + 1), "str"),
        (list(range(ADVERT_LIMITS.max_array + 1)), "array"),
        ({f"{i:03d}": 0 for i in range(ADVERT_LIMITS.max_map + 1)}, "map"),
    ],
)
def test_each_limit_is_enforced_and_exact(value: Any, limit: str) -> None:
    with pytest.raises(LimitExceededError, match=limit):
        codec.decode(codec.encode(value), ADVERT_LIMITS)
    at_limit = value[:-1] if not isinstance(value, dict) else dict(list(value.items())[:-1])
    codec.decode(codec.encode(at_limit), ADVERT_LIMITS)


def test_document_limit_is_checked_first_and_exact() -> None:
    limits = DecodeLimits(max_document=10, max_bin=100, max_str=100, max_array=10, max_map=10)
    codec.decode(codec.encode(b"x" * 8), limits)  # 10 bytes
    with pytest.raises(LimitExceededError):
        codec.decode(codec.encode(b"x" * 9), limits)  # 11 bytes


def test_depth_limit() -> None:
    value: Any = 0
    for _ in range(CONTROL_LIMITS.max_depth):
        value = [value]
    codec.decode(codec.encode(value), CONTROL_LIMITS)
    with pytest.raises(LimitExceededError, match="nests"):
        codec.decode(codec.encode([value]), CONTROL_LIMITS)
    # far deeper than msgpack itself allows: still only a DecodeError
    with pytest.raises(DecodeError):
        codec.decode(b"\x91" * 100_000 + b"\x00", CONTROL_LIMITS)


def test_nan_round_trips_bit_for_bit() -> None:
    data = bytes.fromhex("cb7ff8000000000001")
    value = codec.decode(data, WIDE)
    assert isinstance(value, float) and math.isnan(value)
    assert codec.encode(value) == data


def test_field_helpers_raise_decode_errors() -> None:
    doc: dict[str, codec.Value] = {"i": 5, "b": True, "s": "abc", "x": b"12", "l": [1, 2]}
    assert codec.field_int(doc, "i", low=0, high=5) == 5
    for call in (
        lambda: codec.field_int(doc, "b"),  # bool is not an int on the wire
        lambda: codec.field_int(doc, "i", high=4),
        lambda: codec.field_str(doc, "s", max_len=2),
        lambda: codec.field_bytes(doc, "x", size=3),
        lambda: codec.field_list(doc, "l", max_len=1),
        lambda: codec.field_choice(doc, "s", ["a"]),
        lambda: codec.field_map(doc, "i"),
        lambda: codec.field_str(doc, "missing"),
    ):
        with pytest.raises(DecodeError):
            call()
