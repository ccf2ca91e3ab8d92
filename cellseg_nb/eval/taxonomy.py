"""Error taxonomy of instance predictions: what went wrong with each cell and each prediction.

Definitions (one image; only predictions scoring at least the score threshold take part):

* A prediction p **covers** cell g when ``|p ∩ g| > 0.5 |g|`` (more than half of the cell lies in p).
* A prediction p **lies in** cell g when ``|p ∩ g| > 0.5 |p|`` (more than half of p lies in the cell).
* A **merge prediction** covers two or more cells. A **split cell** has two or more predictions lying in it.
* Matching is COCOeval's greedy matching at IoU 0.5 (:mod:`cellseg_nb.eval.matching`).

Every ground-truth cell gets exactly one class, the first that applies:

1. ``matched`` — matched at IoU 0.5;
2. ``merged`` — unmatched and covered by a merge prediction;
3. ``split`` — unmatched and a split cell;
4. ``missed`` — unmatched otherwise.

``boundary`` is a sub-class of ``matched``: matched at IoU 0.5 but unmatched in the IoU 0.75 matching
(found, outlined poorly).

Every prediction gets exactly one class, the first that applies:

1. ``matched`` — matched at IoU 0.5 (true positive);
2. ``merged`` — unmatched merge prediction;
3. ``split`` — unmatched and lies in a split cell (a fragment);
4. ``spurious`` — unmatched otherwise (nothing there, or a poor outline of nothing in particular).

Predictions matched to crowd cells are left out. Size classes follow LIVECell's area ranges: cells by
their mask area, predictions by theirs: small ``< 18^2``, medium ``18^2 .. < 31^2``, large ``>= 31^2``.
"""

from __future__ import annotations

import numpy as np

from .matching import ImageOverlaps, greedy_match_overlaps

CELL_CLASSES: tuple[str, ...] = ("matched", "merged", "split", "missed")
PREDICTION_CLASSES: tuple[str, ...] = ("matched", "merged", "split", "spurious")
SIZE_CLASSES: tuple[str, ...] = ("small", "medium", "large")
_SMALL, _LARGE = 18.0 ** 2, 31.0 ** 2


def size_class(area: np.ndarray) -> np.ndarray:
    """'small' (< 18^2 px), 'medium' (18^2 .. < 31^2) or 'large' (>= 31^2) per area."""
    area = np.asarray(area, dtype=np.float64)
    return np.where(area < _SMALL, "small", np.where(area < _LARGE, "medium", "large"))


def classify(overlaps: ImageOverlaps, n_keep: int | None = None, *,
             match50: tuple[np.ndarray, np.ndarray] | None = None,
             match75: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Taxonomy of one image: per-cell class, per-prediction class and the per-cell ``boundary`` flag.

    ``n_keep`` limits the predictions to the first ``n_keep`` rows (those above the score threshold;
    rows are in score order). Returns ``cell_class`` (n_gt,), ``pred_class`` (n_keep,), ``boundary``
    (n_gt,) bool, and ``cell_ignored`` (crowd cells, classed but excluded from counts by callers).
    ``match50`` / ``match75`` are :func:`greedy_match` results over all rows, when already computed
    (greedy matching by score makes the first ``n_keep`` rows' matches a prefix of them).
    """
    n = overlaps.n_pred if n_keep is None else int(n_keep)
    crowd = overlaps.gt_crowd
    n_gt = overlaps.n_gt

    match50 = greedy_match_overlaps(overlaps, 0.5) if match50 is None else match50
    match75 = greedy_match_overlaps(overlaps, 0.75) if match75 is None else match75
    match50, ignored50 = (m[:n] for m in match50)
    match75, ignored75 = (m[:n] for m in match75)
    cell_matched50 = np.zeros(n_gt, dtype=bool)
    cell_matched50[match50[(match50 >= 0) & ~ignored50]] = True
    cell_matched75 = np.zeros(n_gt, dtype=bool)
    cell_matched75[match75[(match75 >= 0) & ~ignored75]] = True

    # covers / lies in, over the overlapping pairs of the kept predictions (no other pair intersects)
    k = overlaps.pairs_below(n)
    rows, cols, inter = overlaps.rows[:k], overlaps.cols[:k], overlaps.pair_intersection[:k]
    real = ~crowd[cols]
    covers = (inter > 0.5 * overlaps.gt_area[cols]) & real
    lies_in = (inter > 0.5 * overlaps.pred_area[rows]) & real
    merge_pred = np.bincount(rows[covers], minlength=n) >= 2
    split_cell = np.bincount(cols[lies_in], minlength=n_gt) >= 2
    covered_by_merge = np.zeros(n_gt, dtype=bool)
    covered_by_merge[cols[covers & merge_pred[rows]]] = True

    cell_class = np.full(n_gt, "missed", dtype=object)
    cell_class[split_cell] = "split"
    cell_class[covered_by_merge] = "merged"
    cell_class[cell_matched50] = "matched"

    pred_matched = (match50 >= 0) & ~ignored50
    in_split_cell = np.zeros(n, dtype=bool)
    in_split_cell[rows[lies_in & split_cell[cols]]] = True
    pred_class = np.full(n, "spurious", dtype=object)
    pred_class[in_split_cell] = "split"
    pred_class[merge_pred] = "merged"
    pred_class[pred_matched] = "matched"
    pred_class[ignored50] = "ignored"

    return {
        "cell_class": cell_class,
        "pred_class": pred_class,
        "boundary": cell_matched50 & ~cell_matched75,
        "cell_ignored": crowd.copy(),
    }
