"""Helpers shared by the vector generators: JSON-friendly values, raw msgpack, file
headers and the invalid-case self-check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack

from p2pfleet.core.errors import P2pFleetError


def raw(value: Any, **options: Any) -> bytes:
    """msgpack bytes exactly as given (no canonicalisation): for invalid cases."""
    packed: bytes = msgpack.packb(value, use_bin_type=True, **options)
    return packed


def header(title: str, spec: str, module: str | None = None) -> dict[str, Any]:
    """The common head of a vector file; `module` names the generator module under tools/."""
    generated_by = "tools/gen_vectors.py" + (f" (tools/{module})" if module else "")
    return {
        "title": title,
        "spec": spec,
        "generated_by": generated_by,
        "bytes_encoding": 'byte strings in decoded values are {"$bytes": "<hex>"}',
    }


def jsonish(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, list | tuple):
        return [jsonish(item) for item in value]
    if isinstance(value, dict):
        return {key: jsonish(item) for key, item in value.items()}
    return value


def expect_error(
    func: Callable[[], object], error: str, name: str
) -> None:  # generator self-check: every invalid case must fail as stated
    try:
        func()
    except P2pFleetError as exc:
        classes = {cls.__name__ for cls in type(exc).__mro__}
        if error not in classes:
            raise SystemExit(f"{name}: expected {error}, core raised {type(exc).__name__}") from exc
        return
    raise SystemExit(f"{name}: expected {error}, core accepted it")
