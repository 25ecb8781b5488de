"""Session fixtures: the exact-tier model is built once per test session."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from p2pfleet.inference.images import sample_photos
from p2pfleet.inference.mobilenet_v2 import FoldedMobileNetV2, fold_state_dict
from p2pfleet.inference.runtime import LoadedModel, build_mobilenet_v2_int8, load_model
from p2pfleet.inference.torch_legacy import load_mobilenet_v2_state


@pytest.fixture(scope="session")
def state_dict() -> dict[str, npt.NDArray[Any]]:
    return load_mobilenet_v2_state()


@pytest.fixture(scope="session")
def folded(state_dict: dict[str, npt.NDArray[Any]]) -> FoldedMobileNetV2:
    return fold_state_dict(state_dict)


@pytest.fixture(scope="session")
def photos() -> list[tuple[str, npt.NDArray[np.uint8]]]:
    return sample_photos()


@pytest.fixture(scope="session")
def photo_batch(photos: list[tuple[str, npt.NDArray[np.uint8]]]) -> npt.NDArray[np.uint8]:
    return np.stack([image for _, image in photos])


@pytest.fixture(scope="session")
def model_bytes() -> bytes:
    return build_mobilenet_v2_int8()


@pytest.fixture(scope="session")
def model(model_bytes: bytes) -> LoadedModel:
    return load_model(model_bytes)


@pytest.fixture(scope="session")
def int8_outputs(model: LoadedModel, photo_batch: npt.NDArray[np.uint8]) -> npt.NDArray[np.int32]:
    return model.run(photo_batch)


@pytest.fixture(scope="session")
def minilm_bytes() -> bytes:
    from p2pfleet.inference.minilm import build_minilm

    return build_minilm()


@pytest.fixture(scope="session")
def float_mobilenet_bytes() -> bytes:
    from p2pfleet.inference.mobilenet_onnx import build_mobilenet_v2_float

    return build_mobilenet_v2_float()
