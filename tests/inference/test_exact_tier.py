"""The exact tier: correct classes, agreement with float, and identical output bytes
across batching, sharding, thread counts and OpenBLAS kernels."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from p2pfleet.inference.labels import imagenet_labels
from p2pfleet.inference.mobilenet_v2 import FoldedMobileNetV2, float_forward
from p2pfleet.inference.runtime import LoadedModel, ModelInputError, run_shard
from p2pfleet.inference.tensors import decode_tensor, encode_tensor

from .test_labels_and_float import CAT_CLASSES, COFFEE_CLASSES

MIN_TOP1_AGREEMENT = 0.75


def _digest(outputs: npt.NDArray[np.int32]) -> str:
    return hashlib.sha256(encode_tensor(outputs)).hexdigest()


def test_outputs_are_int32_logits(int8_outputs: npt.NDArray[np.int32]) -> None:
    assert int8_outputs.dtype == np.int32 and int8_outputs.shape == (16, 1000)


def test_int8_classifies_coffee_and_cat(
    model: LoadedModel,
    photos: list[tuple[str, npt.NDArray[np.uint8]]],
    int8_outputs: npt.NDArray[np.int32],
) -> None:
    names = [name for name, _ in photos]
    top = model.top_k(int8_outputs, k=3)
    labels = imagenet_labels()
    assert top[names.index("coffee")][0][0] in {labels[i] for i in COFFEE_CLASSES}
    assert top[names.index("chelsea")][0][0] in {labels[i] for i in CAT_CLASSES}
    for row in top:
        probs = [p for _, p in row]
        assert probs == sorted(probs, reverse=True) and 0.0 < sum(probs) <= 1.0 + 1e-9


def test_top1_agreement_with_float(
    folded: FoldedMobileNetV2,
    photo_batch: npt.NDArray[np.uint8],
    int8_outputs: npt.NDArray[np.int32],
) -> None:
    float_top1 = float_forward(folded, photo_batch).argmax(axis=1)
    agreement = float((int8_outputs.argmax(axis=1) == float_top1).mean())
    assert agreement >= MIN_TOP1_AGREEMENT, f"top-1 agreement {agreement:.2%}"


def test_batch_single_and_shards_hash_identically(
    model: LoadedModel, photo_batch: npt.NDArray[np.uint8], int8_outputs: npt.NDArray[np.int32]
) -> None:
    for i in (0, 5, 15):
        np.testing.assert_array_equal(model.run(photo_batch[i : i + 1])[0], int8_outputs[i])
    shards = [photo_batch[:3], photo_batch[3:12], photo_batch[12:]]
    outputs = [decode_tensor(run_shard(model, encode_tensor(s)), max_bytes=1 << 20) for s in shards]
    assert _digest(np.concatenate(outputs)) == _digest(int8_outputs)
    reordered = model.run(photo_batch[::-1].copy())[::-1]
    assert _digest(reordered) == _digest(int8_outputs)


def test_bad_inputs_are_refused(model: LoadedModel) -> None:
    with pytest.raises(ModelInputError):
        model.run(np.zeros((1, 224, 224, 3), dtype=np.float32))
    with pytest.raises(ModelInputError):
        model.run(np.zeros((1, 225, 224, 3), dtype=np.uint8))
    with pytest.raises(ModelInputError):
        run_shard(model, encode_tensor(np.zeros((1, 224, 224, 3), dtype=np.int8)))
    assert model.run(np.zeros((0, 224, 224, 3), dtype=np.uint8)).shape == (0, 1000)


_CHILD = """
import ctypes, glob, hashlib, json, os, sys
import numpy
from p2pfleet.inference.runtime import load_model, run_shard
def corename():
    libs = glob.glob(os.path.join(os.path.dirname(numpy.__file__), "..", "numpy.libs", "*openblas*"))
    for path in libs:
        fn = getattr(ctypes.CDLL(path), "scipy_openblas_get_corename64_", None)
        if fn is not None:
            fn.restype = ctypes.c_char_p
            return fn().decode()
    return None
model = load_model(open(sys.argv[1], "rb").read())
out = run_shard(model, open(sys.argv[2], "rb").read())
print(json.dumps({"hash": hashlib.sha256(out).hexdigest(), "core": corename()}))
"""

ENVIRONMENTS = [
    {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
    {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"},
    {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "2"},
    {"OPENBLAS_CORETYPE": "Sandybridge"},
    {"OPENBLAS_CORETYPE": "Prescott"},
]


def test_hash_is_identical_across_threads_and_blas_kernels(
    tmp_path: Path, model_bytes: bytes, model: LoadedModel, photo_batch: npt.NDArray[np.uint8]
) -> None:
    model_path, input_path = tmp_path / "m.model", tmp_path / "in.p2ft"
    model_path.write_bytes(model_bytes)
    inputs = photo_batch[[1, 2, 14]]
    input_path.write_bytes(encode_tensor(inputs))
    expected = _digest(model.run(inputs))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS", "OMP_"))}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(model_path), str(input_path)],
            env={**base, **extra},
            stdout=subprocess.PIPE,
            text=True,
        )
        for extra in ENVIRONMENTS
    ]
    results = []
    for child, extra in zip(children, ENVIRONMENTS, strict=True):
        stdout, _ = child.communicate(timeout=120)
        assert child.returncode == 0, f"child with {extra} failed"
        results.append(json.loads(stdout))
    assert [r["hash"] for r in results] == [expected] * len(ENVIRONMENTS)
    cores = {r["core"] for r in results}
    if None not in cores:
        assert len(cores) >= 3, f"OPENBLAS_CORETYPE did not take effect: {cores}"
