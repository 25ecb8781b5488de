"""A job's inputs, read per task kind and encoded canonically for shards.

`classify-image`: a folder of images, one image file, or `sample:photos`
(scikit-image's bundled photos), each preprocessed to uint8 [224, 224, 3];
a shard is one P2FT tensor. `embed-text`: a `.txt` file (one text per
non-blank line), a folder of `.txt` files (every line of every file, files
in name order), or `sample:sentences` (the bundled sentences); a shard is one
P2TX text input (protocol/outputs.md §6).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
from PIL import Image

from p2pfleet.inference.images import preprocess, sample_photos
from p2pfleet.inference.tensors import encode_tensor
from p2pfleet.inference.texts import (
    MAX_TEXT_BYTES,
    TextFormatError,
    encode_texts,
    sample_sentences,
    texts_from_lines,
)
from p2pfleet.submit.job import SAMPLE_PHOTOS, SAMPLE_SENTENCES, JobSpecError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
MAX_TEXT_FILE_BYTES = 64 << 20

Item: TypeAlias = npt.NDArray[np.uint8] | str  # an image array or a text
NamedInput = tuple[str, Item]


def load_inputs(source: str, task: str = "classify-image") -> list[NamedInput]:
    """Named inputs for `task` from `source` (a path or a bundled sample set)."""
    if task == "embed-text":
        return list(load_texts(source))
    if task == "classify-image":
        return list(load_images(source))
    raise JobSpecError(f"task {task!r} has no input reader; use classify-image or embed-text")


def load_images(source: str) -> list[tuple[str, npt.NDArray[np.uint8]]]:
    if source == SAMPLE_SENTENCES:
        raise JobSpecError(f"{SAMPLE_SENTENCES} are texts; an image model needs {SAMPLE_PHOTOS}")
    if source == SAMPLE_PHOTOS:
        return sample_photos()
    path = Path(source)
    files = (
        sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if path.is_dir()
        else [path]
    )
    if not files or not all(f.is_file() for f in files):
        raise JobSpecError(f"no images found at {source}; give a folder of images or an image file")
    inputs = []
    for file in files:
        with Image.open(file) as image:
            inputs.append((file.name, preprocess(np.asarray(image.convert("RGB")))))
    return inputs


def load_texts(source: str) -> list[tuple[str, str]]:
    if source == SAMPLE_PHOTOS:
        raise JobSpecError(f"{SAMPLE_PHOTOS} are images; a text model needs {SAMPLE_SENTENCES}")
    if source == SAMPLE_SENTENCES:
        return [(f"sentence-{i:03d}", text) for i, text in enumerate(sample_sentences())]
    path = Path(source)
    files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise JobSpecError(
            f"no texts found at {source}; give a .txt file (one text per line) or a folder of them"
        )
    inputs: list[tuple[str, str]] = []
    for file in files:
        if file.stat().st_size > MAX_TEXT_FILE_BYTES:
            raise JobSpecError(f"{file} is over {MAX_TEXT_FILE_BYTES >> 20} MiB; split it")
        lines = file.read_text("utf-8").splitlines()
        for line, text in ((n, t) for n, raw in enumerate(lines, 1) for t in texts_from_lines(raw)):
            if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
                raise JobSpecError(
                    f"{file.name} line {line} is over {MAX_TEXT_BYTES} bytes; shorten or split it"
                )
            inputs.append((f"{file.name}:{line}", text))
    if not inputs:
        raise JobSpecError(f"{source} holds no non-blank lines of text")
    return inputs


def encode_inputs(chunk: Sequence[NamedInput]) -> bytes:
    """One shard's canonical input: P2TX for texts, a P2FT tensor for images."""
    items = [item for _, item in chunk]
    if all(isinstance(item, str) for item in items):
        try:
            return encode_texts([str(item) for item in items])
        except TextFormatError as exc:
            raise JobSpecError(f"a text input cannot be encoded: {exc}") from exc
    arrays = [item for item in items if not isinstance(item, str)]
    if len(arrays) != len(items):
        raise JobSpecError("a shard mixes texts and images")
    return encode_tensor(np.stack(arrays))
