"""Deterministic photo preprocessing and the bundled sample photos (no downloads)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PIL import Image

INPUT_SIZE = 224
RESIZE_SHORTER = 256

# skimage.data loaders whose files ship inside the scikit-image wheel.
_COLOUR_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
)
_GREY_PHOTOS = ("camera", "coins", "moon", "clock", "brick")


def to_rgb_uint8(image: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    """Grey -> replicated RGB, RGBA -> RGB, bool -> 0/255; the result is uint8 [H,W,3]."""
    array = np.asarray(image)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 or bool image, got {array.dtype}")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected an image [H,W], [H,W,3] or [H,W,4], got {array.shape}")
    return np.ascontiguousarray(array[:, :, :3])


def preprocess(image: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    """Resize the shorter side to 256 (PIL bilinear), centre-crop 224: uint8 [224,224,3]."""
    rgb = to_rgb_uint8(image)
    h, w = rgb.shape[:2]
    scale = RESIZE_SHORTER / min(h, w)
    new_w, new_h = max(RESIZE_SHORTER, round(w * scale)), max(RESIZE_SHORTER, round(h * scale))
    resized = Image.fromarray(rgb).resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = (new_w - INPUT_SIZE) // 2, (new_h - INPUT_SIZE) // 2
    cropped = resized.crop((left, top, left + INPUT_SIZE, top + INPUT_SIZE))
    return np.asarray(cropped, dtype=np.uint8).copy()


def _load(name: str) -> npt.NDArray[np.generic]:
    import skimage.data

    if name == "motorcycle":
        stereo: Callable[[], tuple[npt.NDArray[np.generic], ...]] = skimage.data.stereo_motorcycle
        return stereo()[0]
    loader: Callable[[], npt.NDArray[np.generic]] = getattr(skimage.data, name)
    return loader()


def _corner_crop(image: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    h, w = image.shape[:2]
    return image[: h * 3 // 4, w // 4 :]


def sample_photos() -> list[tuple[str, npt.NDArray[np.uint8]]]:
    """16 preprocessed inputs: the bundled skimage photos plus flipped/cropped variants."""
    originals = {name: _load(name) for name in (*_COLOUR_PHOTOS, "motorcycle", *_GREY_PHOTOS)}
    photos = [(name, preprocess(image)) for name, image in originals.items()]
    photos.append(("chelsea-flipped", preprocess(originals["chelsea"][:, ::-1])))
    photos.append(("coffee-cropped", preprocess(_corner_crop(originals["coffee"]))))
    photos.append(("astronaut-flipped", preprocess(originals["astronaut"][:, ::-1])))
    return photos


def sample_batch() -> npt.NDArray[np.uint8]:
    """The sample photos stacked as uint8 [16,224,224,3]."""
    return np.stack([image for _, image in sample_photos()])


def _brightness(image: npt.NDArray[np.uint8], factor: float) -> npt.NDArray[np.uint8]:
    scaled = np.clip(image.astype(np.float32) * factor, 0, 255)
    return np.asarray(scaled, dtype=np.uint8)


def photo_variants() -> list[tuple[str, npt.NDArray[np.uint8]]]:
    """Generated variants of the colour photos: mirror, tighter crop, darker, brighter.

    Deterministic; used to measure top-1 agreement between tiers on more than the
    sixteen sample inputs.
    """
    variants = []
    for name in (*_COLOUR_PHOTOS, "motorcycle"):
        rgb = to_rgb_uint8(_load(name))
        h, w = rgb.shape[:2]
        crop = rgb[h // 10 : h - h // 10, w // 10 : w - w // 10]
        variants += [
            (f"{name}-mirrored", preprocess(rgb[:, ::-1])),
            (f"{name}-crop80", preprocess(crop)),
            (f"{name}-dark", preprocess(_brightness(rgb, 0.6))),
            (f"{name}-bright", preprocess(_brightness(rgb, 1.4))),
        ]
    return variants
