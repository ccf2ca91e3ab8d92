"""COCO geometry, one definition each: checked by hand and against pycocotools."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from cellseg_nb.data.geometry import (confluence, polygon_annotation, polygon_area, polygon_bbox,
                                      polygon_perimeter, polygon_shape, rle_areas, segmentation_rle)


def _ellipse(a: float, b: float, n: int = 720, angle: float = 0.0, centre=(30.0, 30.0)) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (np.c_[a * np.cos(t), b * np.sin(t)] @ rot.T + centre).ravel()


def test_area_perimeter_box_by_hand():
    square = [0, 0, 4, 0, 4, 4, 0, 4]
    assert polygon_area(square) == 16 and polygon_area(square[::-1]) == 16    # orientation does not matter
    assert polygon_perimeter(square) == 16 and polygon_bbox([1, 2, 5, 2, 3, 7]) == [1.0, 2.0, 4.0, 5.0]
    assert polygon_area([0, 0, 1, 1]) == 0.0


def test_shape_features_one_definition_of_elongation():
    square = polygon_shape([0, 0, 4, 0, 4, 4, 0, 4])
    assert square.circularity == pytest.approx(math.pi / 4) and square.elongation == pytest.approx(1.0)
    assert polygon_shape([0, 0, 8, 0, 8, 2, 0, 2]).elongation == pytest.approx(4.0)    # second moments 8² : 2²
    ellipse = polygon_shape(_ellipse(10, 5, angle=0.7))
    assert ellipse.elongation == pytest.approx(2.0, rel=1e-3) and ellipse.solidity == pytest.approx(1.0)
    assert ellipse.area == pytest.approx(math.pi * 50, rel=1e-3)
    # vertex density does not change elongation (the vertices' covariance would)
    dense_half = np.r_[_ellipse(10, 5, n=2000)[:2000], _ellipse(10, 5, n=40)[40:]]
    assert polygon_shape(dense_half).elongation == pytest.approx(2.0, rel=2e-2)
    notch = polygon_shape([0, 0, 4, 0, 4, 4, 2, 1, 0, 4])        # a square with a notch: solidity < 1
    assert notch.solidity == pytest.approx(notch.area / 16)
    assert math.isnan(polygon_shape([0, 0, 1, 1, 2, 2]).elongation)


def test_segmentation_rle_is_pycocotools_annToRLE():
    h, w = 20, 30
    parts = [[1.5, 1.5, 10, 2, 8, 9], [15, 15, 25, 15, 20, 19]]
    expected = mask_utils.merge(mask_utils.frPyObjects(parts, h, w))
    assert segmentation_rle(parts, h, w) == expected
    uncompressed = {"size": [h, w], "counts": [5, 10, 585]}
    assert segmentation_rle(uncompressed, h, w) == mask_utils.frPyObjects(uncompressed, h, w)
    text = {"size": [h, w], "counts": expected["counts"].decode("ascii")}
    assert segmentation_rle(text, h, w) == expected


def test_rle_areas_and_confluence_count_overlap_once():
    h, w = 10, 10
    a = mask_utils.encode(np.asfortranarray(np.pad(np.ones((4, 4), np.uint8), ((0, 6), (0, 6)))))
    b = mask_utils.encode(np.asfortranarray(np.pad(np.ones((4, 4), np.uint8), ((2, 4), (2, 4)))))
    assert rle_areas([a, b]).tolist() == [16.0, 16.0] and rle_areas([]).size == 0
    assert confluence([a, b], h, w) == pytest.approx((16 + 16 - 4) / 100)
    assert confluence([], h, w) == 0.0
    assert rle_areas([a] * 300).sum() == 300 * 16                   # pycocotools overflows past 255 at once


def test_annotation_record_as_livecell_writes_it():
    rec = polygon_annotation(7, 3, np.array([[1.0, 2.0], [5.0, 2.0], [5.0, 6.0]]))
    assert rec == {"id": 7, "image_id": 3, "category_id": 1, "segmentation": [[1.0, 2.0, 5.0, 2.0, 5.0, 6.0]],
                   "area": 8.0, "bbox": [1.0, 2.0, 4.0, 4.0], "iscrowd": 0}
