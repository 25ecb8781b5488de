from __future__ import annotations

import numpy as np
import numpy.typing as npt

from p2pfleet.inference.labels import imagenet_labels
from p2pfleet.inference.mobilenet_v2 import FoldedMobileNetV2, float_forward, softmax

CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = {504, 967, 968}  # coffee mug, espresso, cup


def test_label_file_is_the_imagenet_list() -> None:
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert labels[0] == "tench"
    assert labels[1] == "goldfish"
    assert labels[285] == "Egyptian cat"
    assert labels[504] == "coffee mug"
    assert labels[967] == "espresso"
    assert all(label.strip() == label and label for label in labels)


def test_float_reference_classifies_bundled_photos(
    folded: FoldedMobileNetV2, photos: list[tuple[str, npt.NDArray[np.uint8]]]
) -> None:
    wanted = {
        "coffee": COFFEE_CLASSES,
        "coffee-cropped": COFFEE_CLASSES,
        "chelsea": CAT_CLASSES,
        "chelsea-flipped": CAT_CLASSES,
    }
    batch = np.stack([image for name, image in photos if name in wanted])
    names = [name for name, _ in photos if name in wanted]
    probs = softmax(float_forward(folded, batch))
    for name, row in zip(names, probs, strict=True):
        top = int(row.argmax())
        assert top in wanted[name], f"{name}: got {imagenet_labels()[top]}"
        assert row[top] > 0.5


def test_float32_and_float64_forwards_agree(
    folded: FoldedMobileNetV2, photo_batch: npt.NDArray[np.uint8]
) -> None:
    a = float_forward(folded, photo_batch[:2], dtype=np.float32)
    b = float_forward(folded, photo_batch[:2], dtype=np.float64)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-3)


def test_sample_photos_are_deterministic_rgb_inputs(
    photos: list[tuple[str, npt.NDArray[np.uint8]]],
) -> None:
    from p2pfleet.inference.images import sample_photos

    assert len(photos) == 16
    assert len({name for name, _ in photos}) == 16
    for _, image in photos:
        assert image.shape == (224, 224, 3) and image.dtype == np.uint8
    again = sample_photos()
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(photos, again, strict=True))
