"""The evaluation's mask IoUs (``cellseg_nb.eval.matching``: counted from RLE runs through a sparse pixel
incidence product) equal pycocotools' ``maskUtils.iou`` exactly, crowd columns included, on random masks
that overlap within and across sides and on the real LIVECell sample; matching from the overlapping pairs
equals matching on the dense IoU matrix."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from cellseg_nb.eval.matching import (greedy_match, greedy_match_overlaps, image_overlaps, mask_intersections,
                                      rle_pixels)
from cellseg_nb.eval.protocol import IOU_THRESHOLDS

H, W = 37, 53  # odd sizes: column-major indexing mistakes show


def random_masks(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Ellipses and rectangles of random size anywhere (touching borders, overlapping each other), plus
    an empty and a full mask."""
    yy, xx = np.mgrid[:H, :W]
    masks = []
    for _ in range(n):
        cy, cx = rng.uniform(-3, H + 3), rng.uniform(-3, W + 3)
        ry, rx = rng.uniform(1, 12), rng.uniform(1, 12)
        if rng.random() < 0.5:
            m = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        else:
            m = (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
        masks.append(m.astype(np.uint8))
    return masks + [np.zeros((H, W), np.uint8), np.ones((H, W), np.uint8)]


def encode(masks: list[np.ndarray]) -> list[dict]:
    return [mask_utils.encode(np.asfortranarray(m)) for m in masks]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_iou_equals_pycocotools_on_random_overlapping_masks(seed):
    rng = np.random.default_rng(seed)
    gts, preds = random_masks(rng, 40), random_masks(rng, 60)
    gt_rles, pred_rles = encode(gts), encode(preds)
    crowd = rng.random(len(gts)) < 0.2
    scores = rng.random(len(preds)).round(1)  # ties: the stable score order matters
    ov = image_overlaps(gt_rles, crowd, pred_rles, scores, max_dets=None)
    ordered = [pred_rles[i] for i in ov.order]
    expected = np.asarray(mask_utils.iou(ordered, gt_rles, crowd.astype(np.uint8).tolist()))
    assert np.array_equal(ov.iou, expected)  # bit for bit: I / U in float64 either way
    inter = np.array([[int((preds[i] & g).sum()) for g in gts] for i in ov.order])
    assert np.array_equal(ov.intersection, inter)
    assert np.array_equal(ov.pred_area, [preds[i].sum() for i in ov.order])
    assert np.array_equal(ov.gt_area, [g.sum() for g in gts])
    # the pairs are exactly the overlapping ones, row-major; each row's pairs come before the next row's
    rows, cols = np.nonzero(inter > 0)
    assert np.array_equal(ov.rows, rows) and np.array_equal(ov.cols, cols)
    assert ov.pairs_below(10) == int((rows < 10).sum())


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools decode under numpy 2
def test_counts_as_text_and_uncompressed_lists_give_the_same_overlaps():
    rng = np.random.default_rng(5)
    gts, preds = random_masks(rng, 10), random_masks(rng, 12)
    compressed = encode(preds)
    as_text = [{"size": r["size"], "counts": r["counts"].decode("ascii")} for r in compressed]
    uncompressed = []
    for m in preds:
        flat = m.ravel(order="F")
        change = np.flatnonzero(np.diff(np.r_[0, flat, 1 - flat[-1]]))
        runs = np.diff(np.r_[0, change])
        uncompressed.append({"size": [H, W], "counts": runs.tolist()})
    assert all(mask_utils.decode(mask_utils.frPyObjects(u, H, W)).astype(bool).tolist() == m.astype(bool).tolist()
               for u, m in zip(uncompressed, preds))
    scores = np.linspace(1, 0, len(preds))
    reference = image_overlaps(encode(gts), np.zeros(len(gts), bool), compressed, scores)
    for variant in (as_text, uncompressed):
        ov = image_overlaps(encode(gts), np.zeros(len(gts), bool), variant, scores)
        assert np.array_equal(ov.iou, reference.iou)


def test_rle_pixels_lists_every_object_pixel_column_major():
    rng = np.random.default_rng(3)
    masks = random_masks(rng, 8)
    pixel, owner = rle_pixels(encode(masks))
    for k, m in enumerate(masks):
        assert np.array_equal(pixel[owner == k], np.flatnonzero(m.ravel(order="F")))
    assert np.all(np.diff(owner) >= 0)


def test_masks_of_different_sizes_are_refused_and_empty_sides_work():
    a = mask_utils.encode(np.asfortranarray(np.ones((4, 5), np.uint8)))
    b = mask_utils.encode(np.asfortranarray(np.ones((5, 4), np.uint8)))
    with pytest.raises(ValueError, match="different sizes"):
        mask_intersections([a], [b])
    ov = image_overlaps([], np.zeros(0, bool), [a], np.ones(1))
    assert ov.iou.shape == (1, 0) and len(ov.rows) == 0
    ov = image_overlaps([a], np.zeros(1, bool), [], np.zeros(0))
    assert ov.iou.shape == (0, 1) and greedy_match_overlaps(ov, 0.5)[0].shape == (0,)


@pytest.mark.parametrize("seed", [0, 1])
def test_matching_from_pairs_equals_matching_on_the_dense_matrix(seed):
    rng = np.random.default_rng(seed)
    gts = random_masks(rng, 50)
    # near-duplicates of the cells (contention) and random shapes
    preds = [np.roll(g, rng.integers(-2, 3), axis=int(rng.integers(0, 2))) for g in gts for _ in range(2)]
    preds += random_masks(rng, 30)
    for crowd in (np.zeros(len(gts), bool), rng.random(len(gts)) < 0.15):
        ov = image_overlaps(encode(gts), crowd, encode(preds), rng.random(len(preds)).round(2), max_dets=None)
        for t in IOU_THRESHOLDS:
            dense = greedy_match(ov.iou, t, crowd)
            sparse = greedy_match_overlaps(ov, t)
            assert np.array_equal(dense[0], sparse[0]) and np.array_equal(dense[1], sparse[1])


def test_iou_equals_pycocotools_on_the_real_sample(sample_annotations):
    from cellseg_nb.data.coco import load_coco
    from cellseg_nb.data.geometry import annotation_rles
    from cellseg_nb.eval.perturb import PerturbConfig, perturbed_predictions
    from cellseg_nb.eval.predictions import validate_results

    gt = load_coco(sample_annotations)
    results = validate_results(perturbed_predictions(gt, np.random.default_rng(7), PerturbConfig(
        jitter_px=2.0, drop=0.1, duplicate=0.2, add=0.1)), gt)
    checked = 0
    for img in gt.images:
        anns = gt.annotations_for(img["id"])
        gt_rles = annotation_rles(anns, img["height"], img["width"])
        preds = [r for r in results if r["image_id"] == img["id"]]
        pred_rles = [{"size": p["segmentation"]["size"], "counts": p["segmentation"]["counts"].encode("ascii")}
                     for p in preds]
        crowd = np.zeros(len(anns), bool)
        crowd[::17] = True  # a few cells as crowd: the other IoU of pycocotools
        ov = image_overlaps(gt_rles, crowd, pred_rles, np.array([p["score"] for p in preds]))
        ordered = [pred_rles[i] for i in ov.order]
        expected = np.asarray(mask_utils.iou(ordered, gt_rles, crowd.astype(np.uint8).tolist()))
        assert np.array_equal(ov.iou, expected.reshape(ov.iou.shape)), img["file_name"]
        checked += len(ov.rows)
    assert checked > 1000
