"""The classical threshold + watershed baseline: contract, hand-made images, score on the demo test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cellseg_nb.baseline import BaselineParams, labels_to_results, segment_classical, segment_dataset
from cellseg_nb.data.coco import load_coco


def _textured_discs(centres, radius, seed=0):
    """Flat noisy background at 128 with textured discs (a bright rim inside each outline)."""
    rng = np.random.default_rng(seed)
    img = 128 + rng.normal(0, 1.0, (120, 160))
    yy, xx = np.mgrid[0:120, 0:160]
    truth = []
    for cy, cx in centres:
        d = np.hypot(yy - cy, xx - cx)
        disc = d <= radius
        img[disc] += rng.normal(-3, 15, disc.sum())
        img[(d <= radius) & (d > radius - 2)] += 25
        truth.append(disc)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), truth


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_contract_types_and_ranges():
    img, _ = _textured_discs([(40, 40), (80, 110)], 12)
    labels, scores = segment_classical(img, "SkBr3")
    assert labels.dtype == np.int32 and labels.shape == img.shape
    assert scores.dtype == np.float32 and len(scores) == labels.max()
    assert set(np.unique(labels)) == set(range(labels.max() + 1))  # consecutive 0..N
    assert np.all((scores > 0) & (scores <= 1))
    with pytest.raises(ValueError):
        segment_classical(img.astype(np.float32))


def test_separate_discs_are_found_one_each():
    centres = [(30, 30), (30, 100), (85, 60), (90, 135)]
    img, truth = _textured_discs(centres, 11, seed=1)
    labels, _ = segment_classical(img, params=BaselineParams(cell_diameter=22))
    assert labels.max() == 4
    for disc in truth:
        best = max(_iou(labels == k, disc) for k in range(1, labels.max() + 1))
        assert best > 0.75


def test_two_touching_discs_are_split():
    img, truth = _textured_discs([(60, 62), (60, 84)], 11, seed=2)  # 22 px apart: touching
    labels, _ = segment_classical(img, params=BaselineParams(cell_diameter=22))
    assert labels.max() == 2
    for disc in truth:
        assert max(_iou(labels == k, disc) for k in (1, 2)) > 0.6


def test_blank_image_gives_no_cells():
    rng = np.random.default_rng(3)
    img = np.clip(np.rint(128 + rng.normal(0, 1.0, (120, 160))), 0, 255).astype(np.uint8)
    labels, scores = segment_classical(img, "MCF7")
    assert labels.max() <= 1 and len(scores) == labels.max()


def test_labels_to_results_round_trip():
    from pycocotools import mask as mask_utils

    labels = np.zeros((30, 40), np.int32)
    labels[2:10, 3:9] = 1
    labels[15:25, 20:35] = 2
    res = labels_to_results(7, labels, np.array([0.9, 0.4], np.float32), chunk=1)
    assert [r["image_id"] for r in res] == [7, 7] and [r["score"] for r in res] == pytest.approx([0.9, 0.4])
    assert [int(mask_utils.area(r["segmentation"])) for r in res] == [48, 150]
    assert res[1]["bbox"] == [20.0, 15.0, 15.0, 10.0]


@pytest.mark.slow
def test_baseline_scores_between_zero_and_ground_truth_on_demo_test_split(demo_root: Path):
    from cellseg_nb.eval import evaluate_instances

    gt = load_coco(demo_root / "annotations" / "LIVECell" / "livecell_coco_test.json")
    results = segment_dataset(gt, demo_root / "images")
    ev = evaluate_instances(gt, results)
    assert 0.02 < ev.summary["AP"] < 0.8
    # the same evaluator gives ground truth itself a perfect score, so the gap is real
    perfect = [{"image_id": a["image_id"], "category_id": 1, "segmentation": a["segmentation"], "score": 1.0}
               for a in gt.annotations]
    assert evaluate_instances(gt, perfect).summary["AP"] > 0.99
