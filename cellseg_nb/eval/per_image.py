"""Everything measured on one image: counts at IoU 0.50:0.95, F1, mSA, taxonomy and pixel overlap.

:func:`score_image` returns one per-image row (a dict) plus the raw material the aggregations need
(score-ordered true-positive flags for the best-F1 sweep and per-object taxonomy classes). Matching is
COCOeval's greedy matching (all areas, at most 2,000 predictions per image, see
:mod:`cellseg_nb.eval.matching`); only predictions scoring at least ``score_threshold`` count for the
thresholded numbers (TP/FP/FN, F1, mSA, taxonomy, pixels).

:class:`ImageMatching` (``ImageScore.matching``) is the per-object result behind the row: the class,
best IoU and matched partner of every cell and every kept prediction. The prediction browser renders
from it, so what it colours is exactly what the tables count. Callers that score one image at several
thresholds (the browser) pass the :class:`~cellseg_nb.eval.matching.ImageOverlaps` from
:func:`image_overlaps_of` and skip the overlap computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.geometry import annotation_rles

from .matching import ImageOverlaps, greedy_match_overlaps, image_overlaps
from .protocol import IOU_THRESHOLDS, MAX_DETS
from .semantic import cell_type_of, pixel_metrics, rle_pixel_counts
from .taxonomy import classify, size_class


@dataclass
class ImageMatching:
    """Per-object matching of one image at one score threshold (IoU 0.5 for the classes).

    Predictions are the ``n_keep`` kept ones in score order; ``pred_index`` maps them back to the
    caller's prediction list. Cells are in the caller's annotation order. IoUs are each object's best
    IoU with any object of the other side (0 when there is none); ``*_partner`` is the matched object
    (a caller's prediction index for cells, an annotation index for predictions) or -1.
    """

    pred_index: np.ndarray     # (n_keep,) caller's prediction indices, score order
    pred_score: np.ndarray     # (n_keep,)
    pred_class: np.ndarray     # (n_keep,) 'matched' | 'merged' | 'split' | 'spurious' | 'ignored'
    pred_iou: np.ndarray       # (n_keep,) best IoU with a cell
    pred_partner: np.ndarray   # (n_keep,) matched annotation index or -1
    cell_class: np.ndarray     # (n_gt,) 'matched' | 'merged' | 'split' | 'missed'
    cell_iou: np.ndarray       # (n_gt,) best IoU with a kept prediction
    cell_partner: np.ndarray   # (n_gt,) caller's index of the matched prediction or -1
    boundary: np.ndarray       # (n_gt,) bool: matched at IoU 0.5, not at 0.75
    crowd: np.ndarray          # (n_gt,) bool


@dataclass
class ImageScore:
    """One image's row for the per-image table and what the pooled statistics need."""

    row: dict
    tp_per_threshold: np.ndarray     # (T,) true positives among kept predictions
    fp_per_threshold: np.ndarray     # (T,)
    n_cells: int                     # non-crowd ground-truth cells
    scores: np.ndarray               # (n_pred,) all evaluated predictions, descending
    tp50: np.ndarray                 # (n_pred,) bool: true positive at IoU 0.5
    ignored50: np.ndarray            # (n_pred,) bool: matched to a crowd cell
    cell_classes: list[tuple[str, str, str]]   # (object, size, class) for every cell and kept prediction
    matching: ImageMatching | None = None      # per-object classes, IoUs and partners


def _pred_rles(preds: list[dict]) -> list[dict]:
    return [{"size": p["segmentation"]["size"], "counts": p["segmentation"]["counts"].encode("ascii")
             if isinstance(p["segmentation"]["counts"], str) else p["segmentation"]["counts"]} for p in preds]


def image_overlaps_of(anns: list[dict], preds: list[dict], gt_rles: list[dict], *,
                      iou_type: str = "segm") -> ImageOverlaps:
    """Overlaps of all of one image's predictions with its cells (independent of any score threshold)."""
    crowd = np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool)
    scores = np.array([p["score"] for p in preds], dtype=np.float64)
    if iou_type == "bbox":
        gt_boxes = [a["bbox"] if "bbox" in a else _rle_box(r) for a, r in zip(anns, gt_rles)]
        return image_overlaps(gt_boxes, crowd, [p["bbox"] for p in preds], scores, max_dets=MAX_DETS[-1],
                              boxes=True)
    return image_overlaps(gt_rles, crowd, _pred_rles(preds), scores, max_dets=MAX_DETS[-1])


def greedy_matches(overlaps: ImageOverlaps, crowd: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """COCOeval's greedy matching of all of an image's predictions at each IoU threshold of
    :data:`IOU_THRESHOLDS`. It does not depend on the score threshold: matching visits predictions in
    score order, so the matches of the predictions kept at any threshold are a prefix of these. Only the
    overlapping pairs are visited, a few per prediction, not an ``n_pred x n_gt`` matrix."""
    return [greedy_match_overlaps(overlaps, t, crowd) for t in IOU_THRESHOLDS]


def score_image(img: dict, anns: list[dict], preds: list[dict], *, iou_type: str,
                score_threshold: float, gt_rles: list[dict] | None = None,
                overlaps: ImageOverlaps | None = None,
                matches: list[tuple[np.ndarray, np.ndarray]] | None = None) -> ImageScore:
    """Per-image numbers for one image's ground truth ``anns`` and validated predictions ``preds``.

    ``gt_rles`` are the annotations' RLEs when already computed (:func:`cellseg_nb.data.geometry.annotation_rles`);
    ``overlaps`` the result of :func:`image_overlaps_of` for the same ``anns`` and ``preds`` and
    ``matches`` that of :func:`greedy_matches` on them (both independent of the score threshold: only
    the first rows above ``score_threshold`` are used), for callers scoring one image at several
    thresholds.
    """
    height, width = int(img["height"]), int(img["width"])
    crowd = np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool)
    gt_rles = annotation_rles(anns, height, width) if gt_rles is None else gt_rles
    pred_rles = _pred_rles(preds)
    ov = image_overlaps_of(anns, preds, gt_rles, iou_type=iou_type) if overlaps is None else overlaps
    n_keep = int(np.count_nonzero(ov.scores >= score_threshold))

    tp_t, fp_t = np.zeros(len(IOU_THRESHOLDS), dtype=np.int64), np.zeros(len(IOU_THRESHOLDS), dtype=np.int64)
    matches = greedy_matches(ov, crowd) if matches is None else matches
    for ti, (match, ignored) in enumerate(matches):
        kept_tp = (match[:n_keep] >= 0) & ~ignored[:n_keep]
        tp_t[ti] = int(kept_tp.sum())
        fp_t[ti] = n_keep - int(ignored[:n_keep].sum()) - tp_t[ti]
    n_cells = int((~crowd).sum())
    match50, ignored50 = matches[0]
    t75 = int(np.argmin(np.abs(IOU_THRESHOLDS - 0.75)))
    taxonomy = classify(ov, n_keep, match50=matches[0], match75=matches[t75])

    tp, fp = int(tp_t[0]), int(fp_t[0])
    fn = n_cells - tp
    kept_rles = [pred_rles[i] for i in ov.order[:n_keep]]
    ptp, pfp, pfn = rle_pixel_counts([r for r, c in zip(gt_rles, crowd) if not c], kept_rles, height, width)
    sa = _safe_div(tp_t, tp_t + fp_t + (n_cells - tp_t))
    row = {
        "image_id": img["id"], "file_name": img["file_name"], "cell_type": cell_type_of(img),
        "n_cells": n_cells, "n_predictions": n_keep - int(ignored50[:n_keep].sum()),
        "TP": tp, "FP": fp, "FN": fn,
        "precision": _safe_div(tp, tp + fp), "recall": _safe_div(tp, tp + fn), "F1": _safe_div(2 * tp, 2 * tp + fp + fn),
        "mSA": float(np.mean(sa)) if np.all(np.isfinite(sa)) else float("nan"), "SA50": float(sa[0]),
        "pixel_TP": ptp, "pixel_FP": pfp, "pixel_FN": pfn, **pixel_metrics(ptp, pfp, pfn),
    }
    row.update(_taxonomy_counts(taxonomy))
    objects = _object_classes(ov, taxonomy, n_keep)
    matching = _matching(ov, taxonomy, n_keep, match50, ignored50)
    return ImageScore(row, tp_t, fp_t, n_cells, ov.scores, (match50 >= 0) & ~ignored50, ignored50, objects,
                      matching)


def _matching(ov: ImageOverlaps, taxonomy: dict, n_keep: int, match50: np.ndarray,
              ignored50: np.ndarray) -> ImageMatching:
    k = ov.pairs_below(n_keep)  # best IoUs over the overlapping pairs (0 where nothing overlaps)
    pred_iou, cell_iou = np.zeros(n_keep), np.zeros(ov.n_gt)
    np.maximum.at(pred_iou, ov.rows[:k], ov.pair_iou[:k])
    np.maximum.at(cell_iou, ov.cols[:k], ov.pair_iou[:k])
    kept_match = match50[:n_keep]
    real = (kept_match >= 0) & ~ignored50[:n_keep]
    pred_partner = np.where(real, kept_match, -1)
    cell_partner = np.full(ov.n_gt, -1, dtype=np.int64)
    cell_partner[kept_match[real]] = ov.order[:n_keep][real]
    return ImageMatching(ov.order[:n_keep].copy(), ov.scores[:n_keep].copy(),
                         np.asarray(taxonomy["pred_class"], dtype=object), pred_iou, pred_partner,
                         np.asarray(taxonomy["cell_class"], dtype=object), cell_iou, cell_partner,
                         np.asarray(taxonomy["boundary"], dtype=bool), ov.gt_crowd.copy())


def _taxonomy_counts(taxonomy: dict) -> dict:
    cells = taxonomy["cell_class"][~taxonomy["cell_ignored"]]
    preds = taxonomy["pred_class"]
    return {
        "cells_matched": int((cells == "matched").sum()), "cells_merged": int((cells == "merged").sum()),
        "cells_split": int((cells == "split").sum()), "cells_missed": int((cells == "missed").sum()),
        "cells_boundary": int(taxonomy["boundary"][~taxonomy["cell_ignored"]].sum()),
        "preds_matched": int((preds == "matched").sum()), "preds_merged": int((preds == "merged").sum()),
        "preds_split": int((preds == "split").sum()), "preds_spurious": int((preds == "spurious").sum()),
    }


def _object_classes(ov: ImageOverlaps, taxonomy: dict, n_keep: int) -> list[tuple[str, str, str]]:
    out = []
    cell_sizes = size_class(ov.gt_area)
    for size, cls, boundary, ignored in zip(cell_sizes, taxonomy["cell_class"], taxonomy["boundary"],
                                            taxonomy["cell_ignored"]):
        if ignored:
            continue
        out.append(("cell", str(size), str(cls)))
        if boundary:
            out.append(("cell", str(size), "boundary"))
    for size, cls in zip(size_class(ov.pred_area[:n_keep]), taxonomy["pred_class"]):
        if cls != "ignored":
            out.append(("prediction", str(size), str(cls)))
    return out


def _rle_box(rle: dict) -> list[float]:
    from pycocotools import mask as mask_utils

    return [float(v) for v in mask_utils.toBbox(rle)]


def _safe_div(a: Any, b: Any) -> Any:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)
    return float(out) if out.ndim == 0 else out
