"""The one entry point for the rest of p2pfleet: build, identify, load and run models.

Exact tier rule: run() is integer-only, so its output bytes (encode_tensor) and their
SHA-256 are the same on every machine, thread count and batch split.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from p2pfleet.inference.exact_bounds import NotExact
from p2pfleet.inference.fast_kernels import FastMobileNetV2
from p2pfleet.inference.images import INPUT_SIZE, sample_batch
from p2pfleet.inference.int8_kernels import Int8MobileNetV2
from p2pfleet.inference.labels import imagenet_labels, labels_sha256
from p2pfleet.inference.mobilenet_v2 import NUM_CLASSES, fold_state_dict, softmax
from p2pfleet.inference.modelfile import ModelFormatError, decode_model, encode_model
from p2pfleet.inference.qmodel import QuantMobileNetV2, QuantModelError, from_tensors, to_tensors
from p2pfleet.inference.quantize import calibrate, quantise_model
from p2pfleet.inference.tensors import decode_tensor, encode_tensor
from p2pfleet.inference.torch_legacy import bundled_weights_path, load_legacy_checkpoint

__all__ = [
    "EXACT_RUNTIME",
    "LoadedModel",
    "ModelFormatError",
    "ModelInfo",
    "ModelInputError",
    "build_mobilenet_v2_int8",
    "load_model",
    "model_info",
    "run_shard",
]

EXACT_RUNTIME = "p2pfleet-int8/1"
MODEL_NAME = "mobilenet_v2-int8"
EXACT_TIER = "exact"
LICENSE = "BSD-3-Clause (torchvision weights)"
MAX_SHARD_INPUT_BYTES = 64 << 20
RUN_CHUNK = 8  # images per kernel pass; bounds memory, does not change results
INPUT_SPEC = {
    "dtype": "uint8",
    "layout": "NHWC",
    "shape": [-1, INPUT_SIZE, INPUT_SIZE, 3],
    "colour": "RGB",
    "preprocess": "resize shorter side to 256 (PIL bilinear), centre crop 224",
}
OUTPUT_SPEC = {"dtype": "int32", "shape": [-1, NUM_CLASSES], "meaning": "logit accumulators"}


POOL_SPATIAL = (INPUT_SIZE // 32) ** 2  # MobileNetV2 downsamples by 32 before the pool


def exact_network(
    quant: QuantMobileNetV2, reference_kernels: bool = False
) -> Int8MobileNetV2 | FastMobileNetV2:
    """The fast float-carrier kernels when their exactness bounds hold for this model's
    numbers (checked here, once per load), else (or when asked) the int64 reference
    kernels. Both give identical bytes; the choice only affects speed."""
    if reference_kernels:
        return Int8MobileNetV2(quant)
    try:
        return FastMobileNetV2(quant, POOL_SPATIAL)
    except NotExact:
        return Int8MobileNetV2(quant)


class ModelInputError(ValueError):
    """Inputs do not match the model's input spec."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    model_hash: str
    tier: str
    runtime: str
    size: int
    license: str
    task: str = "classify-image"
    comparator: str = "exact"  # the comparator kind replicas are judged by (compare.py)


def build_mobilenet_v2_int8() -> bytes:
    """Deterministic model file bytes, built from the installed weights package."""
    weights = bundled_weights_path()
    folded = fold_state_dict(load_legacy_checkpoint(weights))
    quant, logit_scale = quantise_model(folded, calibrate(folded, sample_batch()))
    metadata = {
        "name": MODEL_NAME,
        "tier": EXACT_TIER,
        "runtime": EXACT_RUNTIME,
        "license": LICENSE,
        "source": {
            "file": weights.name,
            "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        },
        "input": INPUT_SPEC,
        "output": OUTPUT_SPEC,
        "labels_sha256": labels_sha256(),
        "logit_scale": logit_scale,
    }
    return encode_model(metadata, to_tensors(quant))


def _string_field(metadata: dict[str, Any], key: str) -> str:
    value = metadata.get(key)
    if not isinstance(value, str):
        raise ModelFormatError(f"model metadata field {key!r} must be a string")
    return value


TASKS = ("classify-image", "embed-text")  # the first is the default
COMPARATOR_KINDS = ("exact", "classification", "embeddings")  # see compare.py


def _choice(metadata: dict[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = metadata.get(key, choices[0])
    if value not in choices:
        raise ModelFormatError(f"model metadata {key!r} is {value!r}; expected one of {choices}")
    return str(value)


def model_info(model_bytes: bytes) -> ModelInfo:
    metadata = decode_model(model_bytes).metadata
    return ModelInfo(
        name=_string_field(metadata, "name"),
        model_hash=hashlib.sha256(model_bytes).hexdigest(),
        tier=_string_field(metadata, "tier"),
        runtime=_string_field(metadata, "runtime"),
        size=len(model_bytes),
        license=_string_field(metadata, "license"),
        task=_choice(metadata, "task", TASKS),
        comparator=_choice(metadata, "comparator", COMPARATOR_KINDS),
    )


class LoadedModel:
    """A validated exact-tier model ready to run."""

    def __init__(
        self, info: ModelInfo, net: Int8MobileNetV2 | FastMobileNetV2, logit_scale: float
    ) -> None:
        self.info = info
        self._net = net
        self._logit_scale = logit_scale

    @property
    def fast_kernels(self) -> bool:
        """True when this model runs on the float-carrier kernels (same bytes, faster)."""
        return isinstance(self._net, FastMobileNetV2)

    def run(self, inputs: npt.NDArray[np.uint8]) -> npt.NDArray[np.int32]:
        """uint8 [N,224,224,3] RGB -> int32 [N,1000] logit accumulators (pure integers)."""
        expected = (INPUT_SIZE, INPUT_SIZE, 3)
        if inputs.dtype != np.uint8 or inputs.ndim != 4 or inputs.shape[1:] != expected:
            raise ModelInputError(
                f"inputs are {inputs.dtype}{list(inputs.shape)}; expected uint8 [N,224,224,3] "
                "(see p2pfleet.inference.images.preprocess)"
            )
        chunks = [
            self._net.forward(inputs[start : start + RUN_CHUNK])
            for start in range(0, len(inputs), RUN_CHUNK)
        ]
        if not chunks:
            return np.zeros((0, NUM_CLASSES), dtype=np.int32)
        return np.concatenate(chunks)

    def top_k(self, outputs: npt.NDArray[Any], k: int = 5) -> list[list[tuple[str, float]]]:
        """(label, probability) per row; softmax of dequantised logits, for display only."""
        if outputs.ndim != 2 or outputs.shape[1] != NUM_CLASSES:
            raise ModelInputError(f"outputs are {list(outputs.shape)}; expected [N,1000]")
        return top_k_labels(softmax(outputs.astype(np.float64) * self._logit_scale), k)


def top_k_labels(probs: npt.NDArray[np.float64], k: int) -> list[list[tuple[str, float]]]:
    """The k most likely ImageNet labels and their probabilities, per row of `probs`."""
    labels = imagenet_labels()
    return [
        [(labels[i], float(row[i])) for i in np.argsort(-row, kind="stable")[:k]] for row in probs
    ]


def load_model(model_bytes: bytes, reference_kernels: bool = False) -> LoadedModel:
    """Validate a model file and prepare it; raises ModelFormatError with the reason.
    reference_kernels=True skips the fast kernels (benchmarks and cross-checks)."""
    info = model_info(model_bytes)
    if info.runtime != EXACT_RUNTIME or info.tier != EXACT_TIER:
        raise ModelFormatError(
            f"model needs runtime {info.runtime!r} tier {info.tier!r}; this runtime is "
            f"{EXACT_RUNTIME!r} tier {EXACT_TIER!r}"
        )
    decoded = decode_model(model_bytes)
    if decoded.metadata.get("labels_sha256") != labels_sha256():
        raise ModelFormatError(
            "model labels_sha256 does not match this package's label list (built for other labels)"
        )
    logit_scale = decoded.metadata.get("logit_scale")
    if not isinstance(logit_scale, float) or not logit_scale > 0.0:
        raise ModelFormatError("model metadata logit_scale must be a positive number")
    try:
        quant = from_tensors(decoded.tensors)
    except QuantModelError as exc:
        raise ModelFormatError(f"model tensors are invalid: {exc}") from exc
    return LoadedModel(info, exact_network(quant, reference_kernels), logit_scale)


def run_shard(model: LoadedModel, input_bytes: bytes) -> bytes:
    """Canonical input tensor bytes -> canonical int32 output tensor bytes."""
    inputs = decode_tensor(input_bytes, max_bytes=MAX_SHARD_INPUT_BYTES)
    if inputs.dtype != np.uint8:
        raise ModelInputError(f"shard input dtype is {inputs.dtype}; expected uint8")
    return encode_tensor(model.run(inputs))
