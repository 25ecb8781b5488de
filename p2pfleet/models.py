"""Built-in models: built from installed packages into the content-addressed store.

Every entry names its tier, task, comparator kind and license; the node, the
submitter's quorum (`comparator_for(entry.comparator)`) and `p2pfleet models`
read them from here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from p2pfleet.inference.minilm import LICENSE as MINILM_LICENSE
from p2pfleet.inference.minilm import MINILM_NAME, build_minilm
from p2pfleet.inference.mobilenet_onnx import FLOAT_MODEL_NAME, build_mobilenet_v2_float
from p2pfleet.inference.runtime import LICENSE as MOBILENET_LICENSE
from p2pfleet.inference.runtime import MODEL_NAME, build_mobilenet_v2_int8
from p2pfleet.inference.store import ModelStore

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltinModel:
    name: str
    tier: str  # "exact" or "tolerant"
    task: str  # "classify-image" or "embed-text"
    comparator: str  # a key of p2pfleet.inference.compare.COMPARATORS
    license: str
    build: Callable[[], bytes]


CATALOG: dict[str, BuiltinModel] = {
    model.name: model
    for model in (
        BuiltinModel(
            name=MODEL_NAME,
            tier="exact",
            task="classify-image",
            comparator="exact",
            license=MOBILENET_LICENSE,
            build=build_mobilenet_v2_int8,
        ),
        BuiltinModel(
            name=FLOAT_MODEL_NAME,
            tier="tolerant",
            task="classify-image",
            comparator="classification",
            license=MOBILENET_LICENSE,
            build=build_mobilenet_v2_float,
        ),
        BuiltinModel(
            name=MINILM_NAME,
            tier="tolerant",
            task="embed-text",
            comparator="embeddings",
            license=MINILM_LICENSE,
            build=build_minilm,
        ),
    )
}
BUILTIN_MODELS: dict[str, Callable[[], bytes]] = {n: m.build for n, m in CATALOG.items()}


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
