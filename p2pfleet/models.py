"""Built-in models: built from installed packages into the content-addressed store."""

from __future__ import annotations

import re
from collections.abc import Callable

from p2pfleet.inference.runtime import MODEL_NAME, build_mobilenet_v2_int8
from p2pfleet.inference.store import ModelStore

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
BUILTIN_MODELS: dict[str, Callable[[], bytes]] = {MODEL_NAME: build_mobilenet_v2_int8}


class UnknownModelError(ValueError):
    """The job names a model that is neither built in nor a stored hash."""


def ensure_builtin_model(store: ModelStore, name: str) -> str:
    """Return the model's hash, building it into `store` (content-addressed, idempotent).

    `name` is a built-in model name or the hex SHA-256 of a stored model file.
    Built-in models are rebuilt each time (~2 s): a cached name-to-hash mapping
    would go stale when the builder changes.
    """
    if _HEX_DIGEST.fullmatch(name) and store.has(name):
        return name
    builder = BUILTIN_MODELS.get(name)
    if builder is None:
        raise UnknownModelError(
            f"unknown model {name!r}: use one of {', '.join(BUILTIN_MODELS)} or a stored model hash"
        )
    return store.put(builder())
