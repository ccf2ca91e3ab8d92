"""``--preprocess livecell``: LIVECell's normalisation, checked by hand and against scipy's median filter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from cellseg_nb.data.preprocess import livecell_normalise, median_filter_uint8, preprocess_image
from cellseg_nb.errors import DataError


def test_median_filter_matches_scipy_with_replicated_borders() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 53), dtype=np.uint8)
    ours = median_filter_uint8(image, 9)
    reference = ndi.median_filter(image, size=9, mode="nearest")
    assert np.array_equal(ours, reference)


def test_flat_image_maps_to_128() -> None:
    assert np.all(livecell_normalise(np.full((30, 40), 64, np.uint16)) == 128)


def test_hand_computed_pixels() -> None:
    """Median 100 -> x1.28; a background of 100 becomes 128; a pixel of 120 -> 153.6 -> / 128 * 128 = 153;
    a pixel of 10 -> 12.8 -> clipped up to 70; a pixel of 200 -> 256 -> 255 -> 255 clipped down to 180."""
    image = np.full((81, 81), 100, np.uint8)
    image[40, 40], image[10, 10], image[70, 20] = 120, 10, 200
    out = livecell_normalise(image)
    assert out[0, 0] == 128 and out[40, 40] == 153 and out[10, 10] == 70 and out[70, 20] == 180


def test_background_gradient_is_flattened() -> None:
    """A smooth illumination ramp (80..160 across the image) comes out flat at 128 (cells aside)."""
    ramp = np.tile(np.linspace(80, 160, 200), (120, 1)).astype(np.uint8)
    out = livecell_normalise(ramp).astype(int)
    assert np.abs(out - 128).max() <= 2
    assert np.ptp(ramp.astype(int)) > 70


def test_bad_inputs() -> None:
    with pytest.raises(DataError, match="median"):
        livecell_normalise(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="preprocessing"):
        preprocess_image(np.zeros((4, 4), np.uint8), "clahe")
    assert preprocess_image(np.ones((4, 4), np.uint8), "none").sum() == 16
