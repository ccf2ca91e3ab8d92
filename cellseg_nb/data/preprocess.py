"""LIVECell's normalisation for images from other microscopes (``--preprocess livecell``).

LIVECell's phase-contrast images all centre on grey level 128 with a flat background. Their authors
adapt foreign images before inference with a recipe (LIVECell repository, ``code/preprocessing.py``);
this is our implementation of the same steps, for images already at LIVECell's effective 10x
magnification (resample others first: a 20x image by 0.5, a 40x image by 0.25):

1. rescale intensities so the image median becomes 128, clip to 0..255;
2. estimate the background illumination with a 75 x 75 median filter (edge pixels replicated) of that
   image truncated to uint8, and flatten it: ``image / background * 128``;
3. clip to 70..180 (removes phase halo extremes) and truncate to uint8.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

PREPROCESSING = ("none", "livecell")
TARGET_MEDIAN = 128.0
MEDIAN_SIZE = 75
CLIP = (70.0, 180.0)


def median_filter_uint8(image: np.ndarray, size: int) -> np.ndarray:
    """Square ``size x size`` median filter of a uint8 image with replicated borders (histogram-based, fast)."""
    from skimage.filters.rank import median

    if size % 2 == 0:
        size += 1
    r = size // 2
    padded = np.pad(image, r, mode="edge")
    out = median(padded, footprint=np.ones((size, size), dtype=bool))
    return out[r:r + image.shape[0], r:r + image.shape[1]]


def livecell_normalise(image: np.ndarray, *, median_size: int = MEDIAN_SIZE) -> np.ndarray:
    """LIVECell's normalisation of one grey image (any real dtype) -> uint8 ``H x W`` centred on 128."""
    x = np.asarray(image, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a grey H x W image, got shape {x.shape}")
    median = float(np.median(x))
    if not median > 0:
        raise DataError(f"image median is {median}; LIVECell's normalisation divides by it (an empty or "
                        "inverted image? fluorescence images need inverting first)")
    x = np.clip(x * (TARGET_MEDIAN / median), 0.0, 255.0)
    background = median_filter_uint8(x.astype(np.uint8), median_size).astype(np.float64)
    flat = x / np.maximum(background, 1.0) * TARGET_MEDIAN  # a zero background (black region) counts as 1
    return np.clip(flat, *CLIP).astype(np.uint8)


def preprocess_image(image: np.ndarray, method: str) -> np.ndarray:
    """``method`` "none" (the image as read) or "livecell" (:func:`livecell_normalise`)."""
    if method == "none":
        return image
    if method == "livecell":
        return livecell_normalise(image)
    raise ValueError(f"preprocessing must be one of {PREPROCESSING}, got {method!r}")
