"""The p2pfleet data model: a canonical msgpack subset with named limits.

Allowed types: nil, bool, int (64-bit), float (always float64), str, bin,
array, and map with str keys. No ExtType. Canonical form: map keys sorted by
their UTF-8 bytes, shortest integer and length encodings. Anything that is
signed or hashed is encoded canonically, and the decoder rejects bytes that
are not in canonical form, so one value has exactly one encoding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import msgpack

from p2pfleet.core.errors import DecodeError, LimitExceededError
from p2pfleet.core.limits import DecodeLimits

Value: TypeAlias = bool | int | float | str | bytes | list["Value"] | dict[str, "Value"] | None

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


def encode(value: Any) -> bytes:
    """Encode `value` canonically; raises TypeError on values outside the data model."""
    packed: bytes = msgpack.packb(_canonical(value, 0), use_bin_type=True, use_single_float=False)
    return packed


def _canonical(value: Any, depth: int) -> Any:
    if depth > 32:
        raise TypeError("value nests deeper than 32 levels")
    if value is None or isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise TypeError(f"integer {value} does not fit in 64 bits")
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"map keys must be str, got {type(key).__name__}")
        ordered = sorted(value.items(), key=lambda item: item[0].encode())
        return {key: _canonical(item, depth + 1) for key, item in ordered}
    if isinstance(value, Sequence):
        return [_canonical(item, depth + 1) for item in value]
    raise TypeError(f"{type(value).__name__} is not in the p2pfleet data model")


def _refuse_ext(code: int, data: bytes) -> Any:
    raise DecodeError(f"msgpack ext type {code} is not allowed in p2pfleet documents")


def decode(data: bytes, limits: DecodeLimits) -> Value:
    """Decode one canonical document within `limits`.

    Raises `LimitExceededError` when a limit is hit and `DecodeError` for
    anything else malformed (trailing bytes, ext types, non-str map keys,
    non-canonical encoding).
    """
    if len(data) > limits.max_document:
        raise LimitExceededError(f"document is {len(data)} bytes, limit is {limits.max_document}")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            ext_hook=_refuse_ext,
            max_bin_len=limits.max_bin,
            max_str_len=limits.max_str,
            max_array_len=limits.max_array,
            max_map_len=limits.max_map,
            max_ext_len=0,
        )
    except DecodeError:
        raise
    except ValueError as exc:
        if "exceeds max" in str(exc):
            raise LimitExceededError(f"document exceeds a decode limit: {exc}") from exc
        raise DecodeError(f"malformed msgpack: {exc}") from exc
    except Exception as exc:  # msgpack raises several unrelated exception types
        raise DecodeError(f"malformed msgpack: {type(exc).__name__}: {exc}") from exc
    _check_depth(value, limits.max_depth)
    try:
        canonical = encode(value)
    except TypeError as exc:  # e.g. a bin map key: msgpack's strict_map_key allows bytes
        raise DecodeError(f"document is outside the data model: {exc}") from exc
    if canonical != data:
        raise DecodeError("document is not in canonical form (re-encode it canonically)")
    return value  # type: ignore[no-any-return]


def _check_depth(value: Any, max_depth: int) -> None:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise LimitExceededError(f"document nests deeper than {max_depth} levels")
        if isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())


# -- typed field access for schema decoding ---------------------------------


def as_map(value: Value, what: str) -> dict[str, Value]:
    if not isinstance(value, dict):
        raise DecodeError(f"{what} must be a map, got {type(value).__name__}")
    return value


def field_int(
    doc: Mapping[str, Value], key: str, *, low: int = _INT_MIN, high: int = _INT_MAX
) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DecodeError(f"field {key!r} must be an integer")
    if not low <= value <= high:
        raise DecodeError(f"field {key!r}={value} is outside [{low}, {high}]")
    return value


def field_opt_int(
    doc: Mapping[str, Value], key: str, *, low: int = _INT_MIN, high: int = _INT_MAX
) -> int | None:
    if doc.get(key) is None:
        return None
    return field_int(doc, key, low=low, high=high)


def field_str(doc: Mapping[str, Value], key: str, *, max_len: int = 256) -> str:
    value = doc.get(key)
    if not isinstance(value, str):
        raise DecodeError(f"field {key!r} must be a string")
    if len(value) > max_len:
        raise DecodeError(f"field {key!r} is longer than {max_len} characters")
    return value


def field_bytes(
    doc: Mapping[str, Value], key: str, *, size: int | None = None, max_len: int | None = None
) -> bytes:
    value = doc.get(key)
    if not isinstance(value, bytes):
        raise DecodeError(f"field {key!r} must be bytes")
    if size is not None and len(value) != size:
        raise DecodeError(f"field {key!r} must be exactly {size} bytes, got {len(value)}")
    if max_len is not None and len(value) > max_len:
        raise DecodeError(f"field {key!r} is longer than {max_len} bytes")
    return value


def field_opt_bytes(doc: Mapping[str, Value], key: str, *, max_len: int) -> bytes | None:
    if doc.get(key) is None:
        return None
    return field_bytes(doc, key, max_len=max_len)


def field_list(doc: Mapping[str, Value], key: str, *, max_len: int) -> list[Value]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise DecodeError(f"field {key!r} must be an array")
    if len(value) > max_len:
        raise DecodeError(f"field {key!r} has {len(value)} items, limit is {max_len}")
    return value


def field_map(doc: Mapping[str, Value], key: str) -> dict[str, Value]:
    return as_map(doc.get(key), f"field {key!r}")


def field_choice(doc: Mapping[str, Value], key: str, choices: Sequence[str]) -> str:
    value = field_str(doc, key)
    if value not in choices:
        raise DecodeError(f"field {key!r}={value!r} is not one of {', '.join(choices)}")
    return value
