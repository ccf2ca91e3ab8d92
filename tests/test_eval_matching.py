"""Thresholded counts (F1, mSA) rest on the same greedy matching as COCOeval: checked against
pycocotools' own per-image match records (evalImgs) on randomized predictions over the real sample."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import pytest

from cellseg_nb.data.coco import load_coco
from cellseg_nb.eval import evaluate_instances
from cellseg_nb.eval.perturb import PerturbConfig, perturbed_predictions


@pytest.fixture(scope="module")
def matched(sample_annotations):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from cellseg_nb.eval.predictions import validate_results

    gt = load_coco(sample_annotations)
    rng = np.random.default_rng(99)
    results = validate_results(perturbed_predictions(gt, rng, PerturbConfig(jitter_px=2.0, drop=0.1,
                                                                            duplicate=0.2, add=0.1)), gt)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(sample_annotations))
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco_gt, coco_dt, "segm")
        ev.params.useCats = 0
        ev.params.maxDets = [100, 500, 2000]
        ev.params.areaRng = [[0, 1e10]]
        ev.params.areaRngLbl = ["all"]
        ev.evaluate()
    by_image = {e["image_id"]: e for e in ev.evalImgs if e is not None}
    return gt, results, by_image


def reference_counts(record, score_threshold):
    """TP per IoU threshold, FP, number of cells, from one pycocotools evalImgs record."""
    keep = np.asarray(record["dtScores"]) >= score_threshold
    matches = np.asarray(record["dtMatches"])[:, keep]
    ignored = np.asarray(record["dtIgnore"])[:, keep].astype(bool)
    tp = ((matches > 0) & ~ignored).sum(axis=1)
    fp = ((matches == 0) & ~ignored).sum(axis=1)
    n_cells = int((~np.asarray(record["gtIgnore"]).astype(bool)).sum())
    return tp, fp, n_cells


@pytest.mark.slow
def test_greedy_matching_equals_cocoeval_pairs(matched):
    from cellseg_nb.eval.matching import greedy_match, image_overlaps
    from cellseg_nb.data.geometry import annotation_rles
    from cellseg_nb.eval.protocol import IOU_THRESHOLDS

    gt, results, by_image = matched
    index_of = {id(r): k for k, r in enumerate(results)}
    checked = 0
    for img in gt.images:
        anns = gt.annotations_for(img["id"])
        preds = [r for r in results if r["image_id"] == img["id"]]
        rles = [{"size": p["segmentation"]["size"], "counts": p["segmentation"]["counts"]} for p in preds]
        ov = image_overlaps(annotation_rles(anns, img["height"], img["width"]), np.zeros(len(anns), bool),
                            rles, np.array([p["score"] for p in preds]))
        ref = by_image[img["id"]]
        # loadRes numbers results 1..N in file order: the dt ids of this image in score order
        dt_ids = [index_of[id(preds[k])] + 1 for k in ov.order]
        assert dt_ids == list(ref["dtIds"])
        for t, thr in enumerate(IOU_THRESHOLDS):
            match, _ = greedy_match(ov.iou, thr)
            mine = [anns[g]["id"] if g >= 0 else 0 for g in match]
            assert mine == [int(v) for v in ref["dtMatches"][t]], (img["id"], thr)
            checked += int((match >= 0).sum())
    assert checked > 5000


@pytest.mark.slow
@pytest.mark.parametrize("score_threshold", [0.0, 0.5])
def test_f1_and_msa_equal_counts_from_cocoeval(matched, score_threshold):
    gt, results, by_image = matched
    ev = evaluate_instances(gt, results, score_threshold=score_threshold)
    tp_all, fp_all, cells_all, per_image_msa, per_image_sa50 = 0, 0, 0, [], []
    for img in gt.images:
        tp, fp, n = reference_counts(by_image[img["id"]], score_threshold)
        tp_all, fp_all, cells_all = tp_all + tp, fp_all + fp, cells_all + n
        sa = tp / (tp + fp + (n - tp))
        per_image_msa.append(sa.mean())
        per_image_sa50.append(sa[0])
        row = ev.per_image.set_index("image_id").loc[img["id"]]
        assert (row["TP"], row["FP"], row["FN"]) == (tp[0], fp[0], n - tp[0])
    s = ev.summary
    assert s["precision"] == pytest.approx(tp_all[0] / (tp_all[0] + fp_all[0]), abs=1e-12)
    assert s["recall"] == pytest.approx(tp_all[0] / cells_all, abs=1e-12)
    assert s["F1"] == pytest.approx(2 * tp_all[0] / (2 * tp_all[0] + fp_all[0] + cells_all - tp_all[0]), abs=1e-12)
    pooled = tp_all / (tp_all + fp_all + cells_all - tp_all)
    assert s["mSA_pooled"] == pytest.approx(pooled.mean(), abs=1e-12)
    assert s["SA50_pooled"] == pytest.approx(pooled[0], abs=1e-12)
    assert s["mSA"] == pytest.approx(np.mean(per_image_msa), abs=1e-12)
    assert s["SA50"] == pytest.approx(np.mean(per_image_sa50), abs=1e-12)


@pytest.mark.slow
def test_best_f1_is_the_best_over_all_score_thresholds(matched):
    gt, results, by_image = matched
    ev = evaluate_instances(gt, results)
    best, best_thr = -1.0, None
    for thr in sorted({r["score"] for r in results}):
        tp = fp = n = 0
        for img in gt.images:
            t, f, c = reference_counts(by_image[img["id"]], thr)
            tp, fp, n = tp + t[0], fp + f[0], n + c
        f1 = 2 * tp / (2 * tp + fp + n - tp)
        if f1 > best + 1e-15:
            best, best_thr = f1, thr
    assert ev.summary["F1_best"] == pytest.approx(best, abs=1e-12)
    assert ev.summary["best_threshold"] == pytest.approx(best_thr)
