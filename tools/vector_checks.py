"""Helpers shared by the vector generators: JSON-friendly values and the invalid-case self-check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from p2pfleet.core.errors import P2pFleetError


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
