"""The prediction loop writes a detector's own boxes as the records' bbox (as detectron2 does), the
mask's extent otherwise, and filters boxes with their masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cellseg_nb.train.inference import ImageSource, Instances, predict_images


def _masks() -> torch.Tensor:
    masks = torch.zeros(2, 20, 30, dtype=torch.bool)
    masks[0, 2:6, 3:9] = True      # extent x 3..9, y 2..6
    masks[1, 10:15, 20:25] = True
    return masks


def test_detector_boxes_become_the_bbox_and_follow_the_score_filter():
    source = ImageSource("img", Path("img.tif"), "img.tif")
    boxes = torch.tensor([[2.5, 1.5, 9.5, 6.5], [19.0, 9.0, 26.0, 16.0]])

    def detector(image, _source):
        return Instances(_masks(), torch.tensor([0.9, 0.3]), boxes)

    run = predict_images([source], detector, read=lambda s: np.zeros((20, 30), np.uint8), progress=False)
    assert [r["bbox"] for r in run.records] == [[2.5, 1.5, 7.0, 5.0], [19.0, 9.0, 7.0, 7.0]]
    kept = predict_images([source], detector, read=lambda s: np.zeros((20, 30), np.uint8), progress=False,
                          min_score=0.5)
    assert [r["bbox"] for r in kept.records] == [[2.5, 1.5, 7.0, 5.0]] and kept.records[0]["score"] == pytest.approx(0.9)


def test_without_boxes_the_bbox_is_the_mask_extent():
    source = ImageSource("img", Path("img.tif"), "img.tif")
    run = predict_images([source], lambda image, _s: (_masks(), [0.9, 0.3]),
                         read=lambda s: np.zeros((20, 30), np.uint8), progress=False)
    assert [r["bbox"] for r in run.records] == [[3.0, 2.0, 6.0, 4.0], [20.0, 10.0, 5.0, 5.0]]
