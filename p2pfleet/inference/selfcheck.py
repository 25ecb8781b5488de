"""Self-checks on known inputs: does a model file still compute what it should?

Image classifiers must call scikit-image's coffee photo an espresso and its cat
a cat; the sentence model must score paraphrases above unrelated sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from p2pfleet.inference.engine import (
    ExactRunner,
    OrtImageRunner,
    OrtTextRunner,
    Runner,
    load_runner,
)
from p2pfleet.inference.images import preprocess
from p2pfleet.inference.labels import imagenet_labels
from p2pfleet.inference.texts import sample_sentences

# (photo loader in skimage.data, an acceptable top-1 label)
IMAGE_CHECKS = (
    ("coffee", {"espresso", "cup"}),
    ("chelsea", {"Egyptian cat", "tabby", "tiger cat"}),
)
# Indices into sample_sentences(): (anchor, paraphrase, unrelated)
SENTENCE_CHECKS = ((0, 1, 21), (2, 3, 23), (4, 5, 22), (8, 9, 20))


@dataclass(frozen=True, slots=True)
class SelfCheck:
    passed: bool
    detail: str


def _check_images(runner: Runner) -> SelfCheck:
    import skimage.data

    labels = imagenet_labels()
    found = []
    ok = True
    images = np.stack([preprocess(getattr(skimage.data, name)()) for name, _ in IMAGE_CHECKS])
    if isinstance(runner, OrtImageRunner):
        logits = runner.run_array(images)
    else:
        assert isinstance(runner, ExactRunner)
        logits = runner.model.run(images)
    for (name, expected), row in zip(IMAGE_CHECKS, logits, strict=True):
        label = labels[int(np.argmax(row))]
        ok = ok and label in expected
        found.append(f"{name} -> {label}")
    return SelfCheck(ok, "; ".join(found))


def _check_sentences(runner: OrtTextRunner) -> SelfCheck:
    sentences = sample_sentences()
    emb = runner.embedder.embed(list(sentences))
    parts = []
    ok = True
    for anchor, near, far in SENTENCE_CHECKS:
        close, unrelated = float(emb[anchor] @ emb[near]), float(emb[anchor] @ emb[far])
        ok = ok and close > unrelated + 0.2
        parts.append(f"{close:.2f}>{unrelated:.2f}")
    norms_ok = bool(np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4))
    return SelfCheck(ok and norms_ok, "paraphrase>unrelated cosine: " + ", ".join(parts))


def self_check(model_bytes: bytes) -> SelfCheck:
    """Run the model on its known inputs; never raises for a broken model."""
    try:
        runner = load_runner(model_bytes)
        if isinstance(runner, OrtTextRunner):
            return _check_sentences(runner)
        return _check_images(runner)
    except Exception as exc:  # a self-check reports, it does not crash the CLI
        return SelfCheck(False, f"{type(exc).__name__}: {exc}")
