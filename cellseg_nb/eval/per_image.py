"""Everything measured on one image: counts at IoU 0.50:0.95, F1, mSA, taxonomy and pixel overlap.

:func:`score_image` returns one per-image row (a dict) plus the raw material the aggregations need
(score-ordered true-positive flags for the best-F1 sweep and per-object taxonomy classes). Matching is
COCOeval's greedy matching (all areas, at most 2,000 predictions per image, see
:mod:`cellseg_nb.eval.matching`); only predictions scoring at least ``score_threshold`` count for the
thresholded numbers (TP/FP/FN, F1, mSA, taxonomy, pixels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .matching import ImageOverlaps, greedy_match, image_overlaps
from .protocol import IOU_THRESHOLDS, MAX_DETS
from .semantic import cell_type_of, pixel_metrics, rle_pixel_counts
from .taxonomy import classify, size_class


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


def gt_rles_for_image(anns: list[dict], height: int, width: int) -> list[dict]:
    """RLEs (bytes counts) of an image's annotations, converting all polygons in one pycocotools call."""
    from pycocotools import mask as mask_utils

    polygons, owners, out = [], [], [None] * len(anns)
    for k, ann in enumerate(anns):
        seg = ann["segmentation"]
        if isinstance(seg, list):
            polygons.extend(seg)
            owners.extend([k] * len(seg))
        elif isinstance(seg.get("counts"), list):
            out[k] = mask_utils.frPyObjects(seg, height, width)
        else:
            counts = seg["counts"]
            out[k] = {"size": list(seg["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    if polygons:
        parts = mask_utils.frPyObjects(polygons, height, width)
        grouped: dict[int, list] = {}
        for owner, part in zip(owners, parts):
            grouped.setdefault(owner, []).append(part)
        for owner, rles in grouped.items():
            out[owner] = rles[0] if len(rles) == 1 else mask_utils.merge(rles)
    return out


def score_image(img: dict, anns: list[dict], preds: list[dict], *, iou_type: str,
                score_threshold: float, gt_rles: list[dict] | None = None) -> ImageScore:
    """Per-image numbers for one image's ground truth ``anns`` and validated predictions ``preds``.

    ``gt_rles`` are the annotations' RLEs when already computed (:func:`gt_rles_for_image`).
    """
    height, width = int(img["height"]), int(img["width"])
    crowd = np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool)
    gt_rles = gt_rles_for_image(anns, height, width) if gt_rles is None else gt_rles
    pred_rles = [{"size": p["segmentation"]["size"], "counts": p["segmentation"]["counts"].encode("ascii")}
                 for p in preds]
    scores = np.array([p["score"] for p in preds], dtype=np.float64)
    if iou_type == "bbox":
        gt_boxes = [a["bbox"] if "bbox" in a else _rle_box(r) for a, r in zip(anns, gt_rles)]
        ov = image_overlaps(gt_boxes, crowd, [p["bbox"] for p in preds], scores, max_dets=MAX_DETS[-1], boxes=True)
    else:
        ov = image_overlaps(gt_rles, crowd, pred_rles, scores, max_dets=MAX_DETS[-1])
    n_keep = int(np.count_nonzero(ov.scores >= score_threshold))

    tp_t, fp_t = np.zeros(len(IOU_THRESHOLDS), dtype=np.int64), np.zeros(len(IOU_THRESHOLDS), dtype=np.int64)
    matches = {}
    for ti, t in enumerate(IOU_THRESHOLDS):
        match, ignored = greedy_match(ov.iou, t, crowd)
        matches[ti] = (match, ignored)
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
    return ImageScore(row, tp_t, fp_t, n_cells, ov.scores, (match50 >= 0) & ~ignored50, ignored50, objects)


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
