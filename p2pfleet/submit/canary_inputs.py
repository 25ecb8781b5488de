"""Hidden canary inputs: label-preserving variants of the job's own inputs.

A canary shard is a check whose answer the submitter computes itself. If its
inputs were copies of the job's inputs, a node holding a canary and a real
shard would see byte-identical items and could tell the canary apart (and
answer it honestly while lying elsewhere). So every canary item is a fresh
*variant* of a job item, made the way data augmentation makes training data:

- images (`classify-image`): an optional mirror, a small crop resized back,
  brightness and contrast jitter, slight sensor noise;
- texts (`embed-text`): case, punctuation and whitespace changes, and a swap
  of two sentences when the text has several.

Each variant still looks like the job's data (same size, same kind of
content, the same label for a human) but no canary item equals any real item
byte-wise, so no canary shard's input hash equals a real shard's. The
submitter runs the model on the variant itself, so the known answer is exact.
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from p2pfleet.inference.texts import MAX_TEXT_BYTES
from p2pfleet.submit.inputs import Item

MAX_ATTEMPTS = 16  # variants drawn before a collision is broken by force
# Image jitter ranges, chosen to keep the picture's label (ImageNet-style augmentation, milder).
CROP_KEEP = (0.86, 0.96)  # fraction of each side kept before resizing back
BRIGHTNESS = (0.88, 1.12)
CONTRAST = (0.88, 1.12)
NOISE_SIGMA = (1.0, 3.0)  # Gaussian noise, in 0..255 pixel units
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class CanaryInputError(ValueError):
    """No canary variant can be made for these inputs (the message says why)."""


def item_bytes(item: Item) -> bytes:
    """The bytes that identify one input item (UTF-8 text or the raw pixel array)."""
    if isinstance(item, str):
        return item.encode("utf-8")
    return np.ascontiguousarray(item).tobytes()


def item_digests(items: Collection[Item]) -> set[bytes]:
    """SHA-256 of each item's bytes: what canary variants must avoid."""
    return {_digest(item) for item in items}


def image_variant(image: npt.NDArray[np.uint8], rng: random.Random) -> npt.NDArray[np.uint8]:
    """A label-preserving variant of one uint8 [H, W, 3] image, of the same shape."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise CanaryInputError(f"expected a uint8 [H, W, 3] image, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    picture = image[:, ::-1] if rng.random() < 0.5 else image
    keep = rng.uniform(*CROP_KEEP)
    ch, cw = max(1, round(h * keep)), max(1, round(w * keep))
    top, left = rng.randint(0, h - ch), rng.randint(0, w - cw)
    cropped = Image.fromarray(np.ascontiguousarray(picture[top : top + ch, left : left + cw]))
    resized = np.asarray(cropped.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    mean = float(resized.mean())
    jittered = (resized - mean) * rng.uniform(*CONTRAST) + mean * rng.uniform(*BRIGHTNESS)
    noise = np.random.default_rng(rng.getrandbits(64)).normal(
        0.0, rng.uniform(*NOISE_SIGMA), size=jittered.shape
    )
    return np.asarray(np.clip(np.rint(jittered + noise), 0, 255), dtype=np.uint8)


def text_variant(text: str, rng: random.Random) -> str:
    """A meaning-preserving variant of one text (different from it whenever possible).

    One to three of: swap two sentences, change the first letter's case,
    add or drop the final punctuation, double or add a space. The result is
    NFC, without control characters, and within the P2TX text size limit.
    """
    edits = [_swap_sentences, _toggle_first_case, _final_punctuation, _spacing]
    if len(text.encode("utf-8")) + 4 > MAX_TEXT_BYTES:  # no room to grow: only reorder/recase
        edits = [_swap_sentences, _toggle_first_case]
    rng.shuffle(edits)
    variant = text
    for edit in edits[: rng.randint(1, 3)]:
        variant = edit(variant, rng)
    if variant == text:  # every chosen edit was a no-op for this text: try them all
        for edit in edits:
            variant = edit(variant, rng)
            if variant != text:
                break
    return unicodedata.normalize("NFC", variant)


def _swap_sentences(text: str, rng: random.Random) -> str:
    sentences = _SENTENCE_END.split(text.strip())
    if len(sentences) < 2:
        return text
    i, j = rng.sample(range(len(sentences)), 2)
    sentences[i], sentences[j] = sentences[j], sentences[i]
    return " ".join(sentences)


def _toggle_first_case(text: str, rng: random.Random) -> str:
    for index, char in enumerate(text):
        if char.isalpha():
            flipped = char.lower() if char.isupper() else char.upper()
            return text[:index] + flipped + text[index + 1 :]
    return text


def _final_punctuation(text: str, rng: random.Random) -> str:
    stripped = text.rstrip()
    if stripped and stripped[-1] in ".!?;,":
        return stripped[:-1]
    return stripped + rng.choice(".!")


def _spacing(text: str, rng: random.Random) -> str:
    spaces = [i for i, char in enumerate(text) if char == " "]
    if not spaces:
        return text + " "
    at = rng.choice(spaces)
    return text[:at] + " " + text[at:]


VARIANT_BY_TASK: dict[str, Callable[[Any, random.Random], Any]] = {
    "classify-image": image_variant,
    "embed-text": text_variant,
}


def canary_items(
    task: str,
    sources: Sequence[tuple[str, Item]],
    rng: random.Random,
    *,
    avoid: Collection[bytes],
) -> list[tuple[str, Item]]:
    """A variant of each (name, item) for a `task` canary, none of whose bytes hash into `avoid`.

    `avoid` holds the SHA-256 of every real item (`item_digests`); the
    variants also differ from each other. Raises CanaryInputError for a task
    kind without a variant function.
    """
    try:
        variant_of = VARIANT_BY_TASK[task]
    except KeyError:
        raise CanaryInputError(
            f"no canary variants for task kind {task!r}; known: {', '.join(VARIANT_BY_TASK)}"
        ) from None
    taken = set(avoid)
    made: list[tuple[str, Item]] = []
    for name, item in sources:
        variant = item
        for _ in range(MAX_ATTEMPTS):
            variant = variant_of(item, rng)
            if _digest(variant) not in taken:
                break
        while _digest(variant) in taken:  # a degenerate item (flat image, one symbol)
            variant = _nudge(variant, rng)
        taken.add(_digest(variant))
        made.append((name, variant))
    return made


def _digest(item: Item) -> bytes:
    return hashlib.sha256(item_bytes(item)).digest()


def _nudge(item: Item, rng: random.Random) -> Item:
    """Change one pixel by one level, or add a space (a space into a tab): a variant by force."""
    if isinstance(item, str):
        if len(item.encode("utf-8")) < MAX_TEXT_BYTES:
            return item + " "
        spaces = [i for i, char in enumerate(item) if char == " "]
        if not spaces:
            raise CanaryInputError(f"cannot vary the text {item[:40]!r} without growing it")
        at = rng.choice(spaces)
        return item[:at] + "\t" + item[at + 1 :]
    nudged = item.copy()
    index = tuple(rng.randrange(n) for n in nudged.shape)
    nudged[index] = nudged[index] + 1 if nudged[index] < 255 else 254
    return nudged
