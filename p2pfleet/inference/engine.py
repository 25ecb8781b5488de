"""One way to run any model file: dispatch on its runtime, bytes in, bytes out.

`load_runner(model_bytes)` gives a Runner for the exact tier (`p2pfleet-int8/1`)
or the tolerant tier (`onnxruntime`); `runner.run_bytes(input)` maps canonical
input bytes to canonical output bytes (protocol/outputs.md). A manifest's
runtime and settings are checked with `check_manifest_runtime` before any work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from p2pfleet.inference.minilm import MINILM_NAME, MiniLMEmbedder
from p2pfleet.inference.modelfile import ModelFormatError, decode_model
from p2pfleet.inference.onnx_container import onnx_bytes_of
from p2pfleet.inference.ort_runtime import (
    ORT_RUNTIME,
    OrtSettings,
    RuntimeSettingsError,
    check_honourable,
    make_session,
)
from p2pfleet.inference.runtime import (
    EXACT_RUNTIME,
    MAX_SHARD_INPUT_BYTES,
    ModelInfo,
    ModelInputError,
    load_model,
    model_info,
    run_shard,
)
from p2pfleet.inference.tensors import decode_tensor, encode_tensor
from p2pfleet.inference.texts import TextFormatError, decode_texts

RUNTIMES = (EXACT_RUNTIME, ORT_RUNTIME)
IMAGE_CHUNK = 8


class Runner(Protocol):
    info: ModelInfo

    def run_bytes(self, input_bytes: bytes) -> bytes: ...


class ExactRunner:
    def __init__(self, model_bytes: bytes) -> None:
        self.model = load_model(model_bytes)
        self.info = self.model.info

    def run_bytes(self, input_bytes: bytes) -> bytes:
        return run_shard(self.model, input_bytes)


class OrtImageRunner:
    """Float image classifier: uint8 NHWC images -> float32 logits."""

    def __init__(self, info: ModelInfo, onnx_bytes: bytes, settings: OrtSettings) -> None:
        self.info = info
        self._session = make_session(onnx_bytes, settings)

    def run_array(self, images: Any) -> Any:
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (224, 224, 3):
            raise ModelInputError(
                f"inputs are {images.dtype}{list(images.shape)}; expected uint8 [N,224,224,3]"
            )
        chunks = [
            self._session.run(None, {"images": images[i : i + IMAGE_CHUNK]})[0]
            for i in range(0, len(images), IMAGE_CHUNK)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, 1000), np.float32)

    def run_bytes(self, input_bytes: bytes) -> bytes:
        images = decode_tensor(input_bytes, max_bytes=MAX_SHARD_INPUT_BYTES)
        return encode_tensor(np.ascontiguousarray(self.run_array(images), dtype=np.float32))


class OrtTextRunner:
    """Sentence embeddings: P2TX texts -> float32 unit vectors."""

    def __init__(self, info: ModelInfo, embedder: MiniLMEmbedder) -> None:
        self.info = info
        self.embedder = embedder

    def run_bytes(self, input_bytes: bytes) -> bytes:
        try:
            texts = decode_texts(input_bytes)
        except TextFormatError as exc:
            raise ModelInputError(f"shard input is not canonical P2TX text: {exc}") from exc
        return encode_tensor(self.embedder.embed(texts))


def pinned_settings_of(model_bytes: bytes) -> dict[str, str]:
    """The runtime settings the model file pins (empty for the exact tier)."""
    settings = decode_model(model_bytes).metadata.get("runtime_settings", {})
    if not isinstance(settings, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in settings.items()
    ):
        raise ModelFormatError("model metadata runtime_settings must map str to str")
    return dict(settings)


def manifest_runtime(model_bytes: bytes) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The `runtime` and `runtime_settings` a manifest for this model must carry."""
    return model_info(model_bytes).runtime, tuple(sorted(pinned_settings_of(model_bytes).items()))


def check_manifest_runtime(model_bytes: bytes, runtime: str, settings: Mapping[str, str]) -> None:
    """Raise RuntimeSettingsError unless this node can run the model exactly as asked.

    Exact tier: the runtime must match; its output does not depend on settings.
    onnxruntime: the settings must equal the ones the model file pins (they are
    part of the model's identity) and this machine must be able to honour them.
    """
    info = model_info(model_bytes)
    if runtime != info.runtime or runtime not in RUNTIMES:
        raise RuntimeSettingsError(
            f"the job asks for runtime {runtime!r}; model {info.name} runs on {info.runtime!r} "
            f"and this node implements {', '.join(RUNTIMES)}"
        )
    if runtime == ORT_RUNTIME:
        pinned = pinned_settings_of(model_bytes)
        if dict(settings) != pinned:
            raise RuntimeSettingsError(
                f"runtime settings {dict(settings)} differ from the model's pinned {pinned}"
            )
        check_honourable(OrtSettings.from_manifest(settings))


def load_runner(model_bytes: bytes) -> Runner:
    """Validate a model file and prepare it with its pinned settings."""
    info = model_info(model_bytes)
    if info.runtime == EXACT_RUNTIME:
        return ExactRunner(model_bytes)
    if info.runtime != ORT_RUNTIME:
        raise ModelFormatError(f"model runtime {info.runtime!r} is not one of {RUNTIMES}")
    model = decode_model(model_bytes)
    settings = OrtSettings.from_manifest(pinned_settings_of(model_bytes))
    if info.task == "embed-text":
        return OrtTextRunner(info, MiniLMEmbedder(model, settings))
    if info.task == "classify-image":
        return OrtImageRunner(info, onnx_bytes_of(model), settings)
    raise ModelFormatError(f"model task {info.task!r} has no onnxruntime runner")


__all__ = [
    "MINILM_NAME",
    "RUNTIMES",
    "Runner",
    "check_manifest_runtime",
    "load_runner",
    "manifest_runtime",
]
