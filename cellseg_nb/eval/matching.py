"""Per-image overlaps and COCO-style greedy matching, the basis of F1, mSA and the error taxonomy.

The matching is the one COCOeval uses for the "all" area range: predictions in descending score order
(stable for ties, at most ``max_dets`` of them), each taking the still-unmatched ground-truth cell with
the highest IoU at or above the threshold; crowd cells may be matched repeatedly and predictions matched
to them are ignored. Because the greedy pass visits predictions by score, the matching of the
predictions scoring at least ``s`` is a prefix of the full matching, so one pass serves every score
threshold.

IoUs come from ``pycocotools.mask.iou`` on RLEs (or boxes), exactly as COCOeval computes them;
intersections (pixels) are recovered from IoU and areas, so no mask is ever decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.geometry import rle_areas


@dataclass
class ImageOverlaps:
    """Overlaps of one image's predictions (score order) with its ground-truth cells.

    ``order`` maps row k back to the caller's prediction index; ``iou`` is what COCOeval matches on
    (crowd columns use intersection over prediction area); ``intersection`` is in pixels (box area units
    for boxes).
    """

    iou: np.ndarray            # (n_pred, n_gt) float64
    intersection: np.ndarray   # (n_pred, n_gt) float64
    pred_area: np.ndarray      # (n_pred,)
    gt_area: np.ndarray        # (n_gt,) mask (or box) area, not the record's 'area'
    scores: np.ndarray         # (n_pred,) descending
    order: np.ndarray          # (n_pred,) indices into the caller's prediction list
    gt_crowd: np.ndarray       # (n_gt,) bool

    @property
    def n_pred(self) -> int:
        return len(self.scores)

    @property
    def n_gt(self) -> int:
        return len(self.gt_area)


def score_order(scores: np.ndarray, max_dets: int | None = None) -> np.ndarray:
    """Indices sorting ``scores`` descending, ties kept in input order (COCOeval's mergesort)."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    return order if max_dets is None else order[:max_dets]


def image_overlaps(gt_objects: list, gt_crowd: np.ndarray, pred_objects: list, scores: np.ndarray, *,
                   max_dets: int | None = 2000, boxes: bool = False) -> ImageOverlaps:
    """IoU and intersection of one image's predictions with its ground truth.

    ``gt_objects`` / ``pred_objects`` are RLEs (bytes or str counts), or ``[x, y, w, h]`` boxes when
    ``boxes``; predictions are sorted by descending score and cut to ``max_dets`` like COCOeval.
    """
    from pycocotools import mask as mask_utils

    scores = np.asarray(scores, dtype=np.float64)
    order = score_order(scores, max_dets)
    preds = [pred_objects[i] for i in order]
    gt_crowd = np.asarray(gt_crowd, dtype=bool).reshape(-1)
    if boxes:
        pred_area = np.array([b[2] * b[3] for b in preds], dtype=np.float64)
        gt_area = np.array([b[2] * b[3] for b in gt_objects], dtype=np.float64)
        preds_in = np.asarray(preds, dtype=np.float64).reshape(-1, 4)
        gts_in = np.asarray(gt_objects, dtype=np.float64).reshape(-1, 4)
    else:
        preds_in, gts_in = [_bytes_rle(r) for r in preds], [_bytes_rle(r) for r in gt_objects]
        pred_area, gt_area = rle_areas(preds_in), rle_areas(gts_in)
    n_pred, n_gt = len(preds), len(gt_objects)
    if n_pred == 0 or n_gt == 0:
        empty = np.zeros((n_pred, n_gt))
        return ImageOverlaps(empty, empty.copy(), pred_area, gt_area, scores[order], order, gt_crowd)
    plain = np.asarray(mask_utils.iou(preds_in, gts_in, [0] * n_gt), dtype=np.float64).reshape(n_pred, n_gt)
    # IoU = I / (a + b - I)  =>  I = IoU (a + b) / (1 + IoU)
    inter = plain * (pred_area[:, None] + gt_area[None, :]) / (1.0 + plain)
    if not boxes:
        inter = np.rint(inter)
    if gt_crowd.any():
        iou = np.asarray(mask_utils.iou(preds_in, gts_in, gt_crowd.astype(np.uint8).tolist()),
                         dtype=np.float64).reshape(n_pred, n_gt)
    else:
        iou = plain
    return ImageOverlaps(iou, inter, pred_area, gt_area, scores[order], order, gt_crowd)


def _bytes_rle(rle: dict) -> dict:
    counts = rle["counts"]
    if isinstance(counts, str):
        return {"size": rle["size"], "counts": counts.encode("ascii")}
    return rle


def greedy_match(iou: np.ndarray, threshold: float, gt_ignore: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval's greedy matching of score-ordered predictions (rows) to cells (columns) at one IoU threshold.

    Returns ``pred_match`` (matched cell column per prediction, -1 when unmatched) and ``pred_ignored``
    (matched to an ignored/crowd cell: neither true nor false positive). Ignored cells may absorb any
    number of predictions. A pair matches when IoU >= threshold (COCOeval caps the threshold at
    1 - 1e-10).
    """
    n_pred, n_gt = iou.shape
    ignore = np.zeros(n_gt, dtype=bool) if gt_ignore is None else np.asarray(gt_ignore, dtype=bool)
    pred_match = np.full(n_pred, -1, dtype=np.int64)
    pred_ignored = np.zeros(n_pred, dtype=bool)
    if n_pred == 0 or n_gt == 0:
        return pred_match, pred_ignored
    thr = min(float(threshold), 1 - 1e-10)
    cell_taken = np.zeros(n_gt, dtype=bool)
    rows = None
    if not ignore.any():
        # A prediction whose only candidate cell (IoU >= thr) is wanted by no other prediction takes it
        # whatever the order; only predictions in contention need the sequential greedy pass.
        cand_rows, cand_cols = np.nonzero(iou >= thr)
        row_count = np.bincount(cand_rows, minlength=n_pred)
        col_count = np.bincount(cand_cols, minlength=n_gt)
        simple = (row_count[cand_rows] == 1) & (col_count[cand_cols] == 1)
        pred_match[cand_rows[simple]] = cand_cols[simple]
        cell_taken[cand_cols[simple]] = True
        rows = np.unique(cand_rows[~simple])
    # COCOeval visits cells with non-ignored ones first; ties in IoU go to the later-visited cell.
    visit = np.argsort(ignore, kind="mergesort")
    if rows is None:
        rows = np.flatnonzero((iou >= thr).any(axis=1))
    for d in rows.tolist():
        cols = np.flatnonzero(iou[d, visit] >= thr)
        best, best_iou = -1, thr
        for c in cols:
            g = visit[c]
            if cell_taken[g] and not ignore[g]:
                continue
            if best > -1 and not ignore[best] and ignore[g]:
                break
            value = iou[d, g]
            if value < best_iou:
                continue
            best, best_iou = g, value
        if best > -1:
            pred_match[d] = best
            pred_ignored[d] = ignore[best]
            cell_taken[best] = True
    return pred_match, pred_ignored


def matched_cells(pred_match: np.ndarray, pred_ignored: np.ndarray, n_gt: int) -> np.ndarray:
    """Bool per cell: matched by some non-ignored prediction."""
    out = np.zeros(n_gt, dtype=bool)
    hits = pred_match[(pred_match >= 0) & ~pred_ignored]
    out[hits] = True
    return out
