"""Masks at box resolution (BoxMasks) and the one conversion to dense masks, RLE and label images,
checked against pycocotools and the evaluation module's own label painter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from cellseg_nb.eval import masks_to_results
from cellseg_nb.eval.labels import label_image_from_masks, label_image_from_results
from cellseg_nb.models.instances import BoxMasks, prediction_masks


def _dense(n=5, h=23, w=31, seed=0):
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, h, w), bool)
    for i in range(n):
        y0, x0 = rng.integers(0, h - 5), rng.integers(0, w - 5)
        masks[i, y0:y0 + rng.integers(2, 8), x0:x0 + rng.integers(2, 9)] = rng.random((1,)) < 2
        masks[i, y0, x0] = False  # not a plain rectangle
    masks[2] = False  # an empty mask
    return masks


def test_round_trip_and_indexing():
    dense = _dense()
    box = BoxMasks.from_dense(dense)
    assert box.shape == dense.shape and len(box) == 5
    assert np.array_equal(box.dense().numpy(), dense)
    assert box.nbytes() < dense[:, :, :].size // 4  # stored at box resolution
    keep = torch.tensor([True, False, True, True, False])
    assert np.array_equal(box[keep].dense().numpy(), dense[[0, 2, 3]])
    assert np.array_equal(box[[4, 1]].dense().numpy(), dense[[4, 1]])
    assert np.array_equal(box[1:3].dense().numpy(), dense[1:3])
    assert box.areas().tolist() == dense.sum(axis=(1, 2)).tolist()
    shifted = box.shifted(3, 4, 40, 50).dense().numpy()
    assert np.array_equal(shifted[:, 4:27, 3:34], dense) and shifted.sum() == dense.sum()


def test_rles_match_pycocotools_of_the_dense_masks():
    dense = _dense(seed=1)
    reference = mask_utils.encode(np.asfortranarray(np.transpose(dense, (1, 2, 0)).astype(np.uint8)))
    ours = prediction_masks(BoxMasks.from_dense(dense), "rle")
    assert [r["counts"] for r in ours] == [r["counts"] for r in reference]
    scores = np.linspace(0.9, 0.1, 5)
    assert masks_to_results(3, BoxMasks.from_dense(dense), scores) == masks_to_results(3, dense, scores)


def test_label_image_matches_the_evaluation_painter():
    """Reference: eval.labels paints the label image from COCO records (decoded RLE, its own loop)."""
    dense = _dense(n=6, seed=2)
    dense[4, 5:15, 5:15] = True  # overlaps: the higher score wins
    scores = np.array([0.2, 0.9, 0.5, 0.5, 0.95, 0.1])  # a tie: the earlier mask ranks first
    ours = prediction_masks(BoxMasks.from_dense(dense), "labels", scores)
    records = masks_to_results(1, dense, scores)
    assert np.array_equal(ours, label_image_from_results(records, *dense.shape[1:]))
    assert np.array_equal(label_image_from_masks(BoxMasks.from_dense(dense), scores), ours)
    assert np.array_equal(prediction_masks(torch.from_numpy(dense), "labels", scores), ours)
    with pytest.raises(ValueError, match="scores"):
        prediction_masks(dense, "labels")


def test_two_thousand_instances_stay_small():
    """2,000 cells of ~15 x 15 px on a 704 x 520 image: box resolution needs ~0.5 MB, dense 732 MB."""
    rng = np.random.default_rng(0)
    crops = [torch.ones((15, 15), dtype=torch.bool) for _ in range(2000)]
    xy = rng.integers(0, 500, (2000, 2))
    windows = torch.tensor(np.c_[xy[:, 0], xy[:, 1], xy[:, 0] + 15, xy[:, 1] + 15])
    box = BoxMasks(crops, windows, 520, 704)
    assert box.nbytes() == 2000 * 225 and box.shape == (2000, 520, 704)
    rles = prediction_masks(box, "rle")
    assert len(rles) == 2000 and all(mask_utils.area(r) == 225 for r in rles[:50])


def test_from_labels_by_hand():
    labels = np.zeros((6, 7), np.int32)
    labels[1:3, 2:5] = 1
    labels[4, 0] = 3  # label 2 is missing: an empty mask keeps the numbering
    box = BoxMasks.from_labels(labels)
    assert box.windows.tolist() == [[2, 1, 5, 3], [0, 0, 0, 0], [0, 4, 1, 5]]
    dense = box.dense().numpy()
    assert np.array_equal(dense, np.stack([labels == k for k in (1, 2, 3)]))
