"""``evaluate_instances``: LIVECell-protocol instance metrics, per image, per cell type and overall.

Summary keys (fractions in [0, 1]; NaN where undefined):

* ``AP, AP50, AP75, APs, APm, APl`` — COCO AP at 2,000 detections (LIVECell protocol, see
  :mod:`cellseg_nb.eval.protocol`); ``AR100, AR500, AR2000`` — COCO AR (all areas);
  ``AFNR`` = 1 - AR2000, the mean over IoU 0.50:0.05:0.95 of the fraction of cells left unmatched.
* ``precision, recall, F1`` — at IoU 0.5 over predictions scoring >= ``score_threshold``, pooled over
  images (TP, FP, FN summed); ``F1_best`` and ``best_threshold`` — the best pooled F1 over all score
  thresholds and the lowest score threshold reaching it.
* ``mSA`` (Cellpose / micro-sam "AP") — TP / (TP + FP + FN) per image, averaged over IoU 0.50:0.05:0.95,
  then averaged over images; ``SA50`` the same at IoU 0.5; ``mSA_pooled`` / ``SA50_pooled`` from counts
  summed over images. These are NOT COCO AP.
* ``count_R2`` — squared Pearson correlation of per-image predicted vs true cell counts;
  ``count_MAE`` — mean absolute count error per image.
* ``pixel_*_mean`` / ``pixel_*_pooled`` — foreground precision, recall, F1 (Dice) and IoU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ..data.coco import CocoDataset, load_coco
from ..data.geometry import annotation_rles
from .per_image import ImageScore, score_image
from .predictions import load_results, validate_results
from .protocol import COCO_KEYS, IOU_THRESHOLDS, Backend, IouType, coco_arrays, gt_for_cocoeval
from .semantic import cell_type_of, summarize_pixels
from .taxonomy import CELL_CLASSES, PREDICTION_CLASSES, SIZE_CLASSES

#: The keys every summary (overall and per cell type) has, in report order.
SUMMARY_KEYS: tuple[str, ...] = COCO_KEYS + ("precision", "recall", "F1", "F1_best", "best_threshold", "mSA", "SA50",
                                             "mSA_pooled", "SA50_pooled", "count_R2", "count_MAE",
                                             "n_images", "n_cells", "n_predictions")


@dataclass
class InstanceEvaluation:
    """Result of :func:`evaluate_instances`.

    ``summary`` (overall), ``per_cell_type`` (folder spelling -> summary of that type's images),
    ``per_image`` (one row per image), ``taxonomy`` (counts per cell type, object kind, size and class).
    """

    summary: dict[str, float]
    per_cell_type: dict[str, dict[str, float]]
    per_image: pd.DataFrame
    taxonomy: pd.DataFrame = field(repr=False)
    iou_type: str = "segm"
    score_threshold: float = 0.5
    backend: str = "faster"

    def per_cell_type_table(self) -> pd.DataFrame:
        """Per-cell-type summaries as a DataFrame (rows: cell types, then ``all``)."""
        rows = {**self.per_cell_type, "all": self.summary}
        return pd.DataFrame.from_dict(rows, orient="index")[list(SUMMARY_KEYS)]

    def taxonomy_table(self, by: Sequence[str] = ("cell_type",)) -> pd.DataFrame:
        """Taxonomy counts pivoted to one row per ``by`` group; columns ``cells_<class>`` / ``preds_<class>``.

        ``by`` may hold ``"cell_type"`` and/or ``"size"`` (small / medium / large).
        """
        tax = self.taxonomy
        if tax.empty:
            return pd.DataFrame()
        col = np.where(tax["object"] == "cell", "cells_", "preds_") + tax["class"].astype(str)
        table = tax.assign(column=col).pivot_table(index=list(by), columns="column", values="count",
                                                   aggfunc="sum", fill_value=0)
        order = [f"cells_{c}" for c in CELL_CLASSES + ("boundary",)] + [f"preds_{c}" for c in PREDICTION_CLASSES]
        return table.reindex(columns=order, fill_value=0).astype(int)

    def to_json(self) -> dict:
        """The summary with ``per_cell_type`` nested, json-safe (NaN becomes None)."""
        out = {k: _json_number(v) for k, v in self.summary.items()}
        out["per_cell_type"] = {ct: {k: _json_number(v) for k, v in s.items()} for ct, s in self.per_cell_type.items()}
        return out


def _json_number(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def evaluate_instances(gt: CocoDataset | str | Path, predictions: Sequence[dict] | str | Path, *,
                       iou_type: IouType = "segm", score_threshold: float = 0.5,
                       backend: Backend = "faster") -> InstanceEvaluation:
    """Evaluate instance predictions against ground truth under LIVECell's protocol.

    ``gt`` is a :class:`CocoDataset` or a path to a COCO json; ``predictions`` a list of COCO result
    records or a path to a results json (validated: see :func:`~cellseg_nb.eval.predictions.load_results`).
    Every ground-truth image is evaluated; images without predictions count their cells as missed.
    ``backend`` chooses the COCO engine ("faster": faster-coco-eval, "pycocotools": the reference).
    """
    if not 0.0 <= float(score_threshold) <= 1.0:
        raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold!r}")
    if iou_type not in ("segm", "bbox"):
        raise ValueError(f"iou_type must be 'segm' or 'bbox', got {iou_type!r}")
    gt = gt if isinstance(gt, CocoDataset) else load_coco(gt)
    if isinstance(predictions, (str, Path)):
        results = load_results(predictions, gt)
    else:
        results = validate_results(list(predictions), gt)

    by_image: dict[Any, list[dict]] = {img_id: [] for img_id in gt.image_ids}
    # COCOeval gets the records as given (no bbox added: loadRes would take each detection's area from
    # it); box matching per image uses the record's bbox or, as loadRes does, the mask's extent.
    for rec in (_with_boxes(results) if iou_type == "bbox" else results):
        by_image[rec["image_id"]].append(rec)
    rles_by_image = {img["id"]: annotation_rles(gt.annotations_for(img["id"]), int(img["height"]),
                                                  int(img["width"])) for img in gt.images}
    scores = [score_image(img, gt.annotations_for(img["id"]), by_image[img["id"]], iou_type=iou_type,
                          score_threshold=float(score_threshold), gt_rles=rles_by_image[img["id"]])
              for img in gt.images]
    per_image = pd.DataFrame([s.row for s in scores])
    # the backends get the same RLEs instead of re-rasterising every polygon per group
    position = {id(ann): k for img_id in gt.image_ids for k, ann in enumerate(gt.annotations_for(img_id))}
    gt_rles = [rles_by_image[ann["image_id"]][position[id(ann)]] for ann in gt.annotations]

    types = [cell_type_of(img) for img in gt.images]
    groups: dict[str, list] = {"all": list(gt.image_ids)}
    for ct in dict.fromkeys(types):
        groups[ct] = [img["id"] for img, t in zip(gt.images, types) if t == ct]
    arrays = coco_arrays(gt_for_cocoeval(gt.to_dict(), gt_rles), results, iou_type=iou_type, backend=backend,
                         groups=groups, copy_records=False)

    summaries = {}
    for name, ids in groups.items():
        members = [s for s, t in zip(scores, types) if name == "all" or t == name]
        summaries[name] = {**arrays[name].summary(), **_pooled_summary(members), **summarize_pixels(
            per_image[[name == "all" or t == name for t in types]])}
    per_cell_type = {name: summaries[name] for name in groups if name != "all"}
    return InstanceEvaluation(
        summary=summaries["all"], per_cell_type=_ordered_types(per_cell_type), per_image=per_image,
        taxonomy=_taxonomy_frame(scores, types), iou_type=iou_type, score_threshold=float(score_threshold),
        backend=backend,
    )


def _with_boxes(results: list[dict]) -> list[dict]:
    """Copies of records without a bbox given the mask's extent (what COCOeval's loadRes assigns them)."""
    from pycocotools import mask as mask_utils

    out = []
    for rec in results:
        if "bbox" not in rec:
            seg = rec["segmentation"]
            rle = {"size": seg["size"], "counts": seg["counts"].encode("ascii")}
            rec = dict(rec, bbox=[float(v) for v in mask_utils.toBbox(rle)])
        out.append(rec)
    return out


def _ordered_types(per_type: dict[str, dict]) -> dict[str, dict]:
    from ..celltypes import CELL_TYPES

    known = [ct for ct in CELL_TYPES if ct in per_type]
    return {ct: per_type[ct] for ct in known + sorted(set(per_type) - set(known))}


def _pooled_summary(members: list[ImageScore]) -> dict[str, float]:
    """Thresholded counts, best F1, mSA and count agreement of a group of images."""
    n_cells = sum(m.n_cells for m in members)
    tp_t = np.sum([m.tp_per_threshold for m in members], axis=0) if members else np.zeros(len(IOU_THRESHOLDS))
    fp_t = np.sum([m.fp_per_threshold for m in members], axis=0) if members else np.zeros(len(IOU_THRESHOLDS))
    tp, fp, fn = float(tp_t[0]), float(fp_t[0]), float(n_cells - tp_t[0])
    sa_pooled = _div(tp_t, tp_t + fp_t + (n_cells - tp_t))
    per_image_msa = np.array([m.row["mSA"] for m in members], dtype=np.float64)
    per_image_sa50 = np.array([m.row["SA50"] for m in members], dtype=np.float64)
    best_f1, best_thr = _best_f1(members, n_cells)
    counts_true = np.array([m.row["n_cells"] for m in members], dtype=np.float64)
    counts_pred = np.array([m.row["n_predictions"] for m in members], dtype=np.float64)
    return {
        "precision": _div(tp, tp + fp), "recall": _div(tp, tp + fn), "F1": _div(2 * tp, 2 * tp + fp + fn),
        "F1_best": best_f1, "best_threshold": best_thr,
        "mSA": _nanmean(per_image_msa), "SA50": _nanmean(per_image_sa50),
        "mSA_pooled": float(np.mean(sa_pooled)) if np.all(np.isfinite(sa_pooled)) else float("nan"),
        "SA50_pooled": float(sa_pooled[0]),
        "count_R2": _r2(counts_true, counts_pred),
        "count_MAE": float(np.mean(np.abs(counts_pred - counts_true))) if members else float("nan"),
        "n_images": len(members), "n_cells": int(n_cells), "n_predictions": int(counts_pred.sum()),
    }


def _best_f1(members: list[ImageScore], n_cells: int) -> tuple[float, float]:
    """Best pooled F1 at IoU 0.5 over score thresholds, and the lowest threshold reaching it."""
    scores = np.concatenate([m.scores for m in members]) if members else np.zeros(0)
    if scores.size == 0:
        return (0.0 if n_cells else float("nan")), float("nan")
    tp = np.concatenate([m.tp50 for m in members]).astype(np.float64)
    counted = ~np.concatenate([m.ignored50 for m in members])
    order = np.argsort(-scores, kind="mergesort")
    scores, tp, counted = scores[order], tp[order], counted[order].astype(np.float64)
    cum_tp, cum_pred = np.cumsum(tp), np.cumsum(counted)
    last_of_value = np.r_[scores[1:] != scores[:-1], True]   # a threshold keeps all equal scores
    denom = cum_pred + n_cells
    f1 = np.where(denom > 0, 2 * cum_tp / np.where(denom > 0, denom, 1), np.nan)[last_of_value]
    thresholds = scores[last_of_value]
    if not np.isfinite(f1).any():  # e.g. only crowd cells, every prediction ignored: F1 undefined
        return float("nan"), float("nan")
    best = int(np.nanargmax(f1[::-1]))
    best = len(f1) - 1 - best                                   # ties: the lowest threshold
    return float(f1[best]), float(thresholds[best])


def _taxonomy_frame(scores: list[ImageScore], types: list[str]) -> pd.DataFrame:
    rows = [(t, obj, size, cls) for s, t in zip(scores, types) for obj, size, cls in s.cell_classes]
    if not rows:
        return pd.DataFrame(columns=["cell_type", "object", "size", "class", "count"])
    frame = pd.DataFrame(rows, columns=["cell_type", "object", "size", "class"])
    frame = frame.groupby(["cell_type", "object", "size", "class"], sort=False).size().rename("count").reset_index()
    frame["size"] = pd.Categorical(frame["size"], categories=list(SIZE_CLASSES))
    return frame


def _div(a: Any, b: Any) -> Any:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)
    return float(out) if out.ndim == 0 else out


def _nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _r2(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1] ** 2)


def evaluate_many(gt: CocoDataset | str | Path, predictions: dict[str, Sequence[dict] | str | Path], *,
                  score_threshold: float = 0.5, iou_type: IouType = "segm",
                  backend: Backend = "faster") -> dict[str, InstanceEvaluation]:
    """:func:`evaluate_instances` for several models on the same ground truth (loaded once), all at the
    same operating point ``score_threshold``."""
    gt = gt if isinstance(gt, CocoDataset) else load_coco(gt)
    return {name: evaluate_instances(gt, preds, iou_type=iou_type, score_threshold=score_threshold,
                                     backend=backend) for name, preds in predictions.items()}


__all__: Iterable[str] = ("InstanceEvaluation", "evaluate_instances", "evaluate_many", "SUMMARY_KEYS")
