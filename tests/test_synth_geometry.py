"""Polygon clipping, quantisation and windowed rasterisation, checked against hand-worked cases and pycocotools."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from cellseg_nb.data.geometry import polygon_area
from cellseg_nb.synth.geometry import (clip_to_rectangle, quantize, rasterize_window, rigid_matrix,
                                       transform_points, window_of)


def test_clip_square_overhanging_corner() -> None:
    square = np.array([[-2.0, -2.0], [4.0, -2.0], [4.0, 4.0], [-2.0, 4.0]])
    clipped = clip_to_rectangle(square, 10, 10)
    assert polygon_area(clipped) == pytest.approx(16.0)  # [0,4] x [0,4]
    assert clipped.min() == 0.0 and clipped.max() == 4.0


def test_clip_triangle_hand_worked() -> None:
    # triangle (1,1) (7,1) (1,7) against the 5 x 5 rectangle: the hypotenuse x + y = 8 leaves
    # the pentagon (1,1) (5,1) (5,3) (3,5) (1,5) of area 16 - 2 = 14
    tri = np.array([[1.0, 1.0], [7.0, 1.0], [1.0, 7.0]])
    clipped = clip_to_rectangle(tri, 5, 5)
    expected = {(1.0, 1.0), (5.0, 1.0), (5.0, 3.0), (3.0, 5.0), (1.0, 5.0)}
    assert {tuple(map(float, p)) for p in clipped} == expected
    assert polygon_area(clipped) == pytest.approx(14.0)


def test_clip_outside_is_empty_and_inside_unchanged() -> None:
    outside = np.array([[20.0, 20.0], [25.0, 20.0], [22.0, 25.0]])
    assert len(clip_to_rectangle(outside, 10, 10)) == 0
    inside = np.array([[1.0, 1.0], [5.0, 1.0], [3.0, 4.0]])
    assert clip_to_rectangle(inside, 10, 10) is inside


def test_rigid_matrix_rotates_and_mirrors() -> None:
    pts = np.array([[1.0, 0.0]])
    np.testing.assert_allclose(transform_points(pts, rigid_matrix(90, False), np.zeros(2), np.zeros(2)), [[0.0, 1.0]],
                               atol=1e-12)
    np.testing.assert_allclose(transform_points(pts, rigid_matrix(0, True), np.zeros(2), np.zeros(2)), [[-1.0, 0.0]])


def test_window_rasterisation_equals_full_image_pycocotools() -> None:
    """Random blobs, many cut by the border: the local window crop equals pycocotools on the full image."""
    rng = np.random.default_rng(3)
    width, height = 90, 70
    for _ in range(200):
        n = int(rng.integers(5, 30))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = rng.uniform(2, 14, n)
        center = rng.uniform([-8, -8], [width + 8, height + 8])
        poly = center + np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])
        poly = clip_to_rectangle(poly, width, height)
        if len(poly) < 3:
            continue
        poly = quantize(poly, width, height)
        if len(poly) < 3:
            continue
        x0, y0, x1, y1 = window_of(poly, width, height)
        local = rasterize_window(poly, x0, y0, x1 - x0, y1 - y0)
        full = mask_utils.decode(mask_utils.frPyObjects([poly.reshape(-1).tolist()], height, width))[:, :, 0]
        placed = np.zeros((height, width), bool)
        placed[y0:y1, x0:x1] = local
        assert np.array_equal(placed, full.astype(bool))
