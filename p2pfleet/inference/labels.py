"""The 1000 ImageNet class names, in the index order of torchvision's classifiers."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

NUM_CLASSES = 1000
_LABELS_RESOURCE = "data/imagenet_classes.txt"


@cache
def labels_bytes() -> bytes:
    """The label file exactly as shipped (one name per line, UTF-8)."""
    return resources.files("p2pfleet.inference").joinpath(_LABELS_RESOURCE).read_bytes()


@cache
def imagenet_labels() -> tuple[str, ...]:
    names = tuple(labels_bytes().decode("utf-8").splitlines())
    if len(names) != NUM_CLASSES:
        raise RuntimeError(f"label file has {len(names)} lines, expected {NUM_CLASSES}")
    return names


def labels_sha256() -> str:
    return hashlib.sha256(labels_bytes()).hexdigest()
