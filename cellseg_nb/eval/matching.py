"""Per-image overlaps and COCO-style greedy matching, the basis of F1, mSA and the error taxonomy.

The matching is the one COCOeval uses for the "all" area range: predictions in descending score order
(stable for ties, at most ``max_dets`` of them), each taking the still-unmatched ground-truth cell with
the highest IoU at or above the threshold; crowd cells may be matched repeatedly and predictions matched
to them are ignored. Because the greedy pass visits predictions by score, the matching of the
predictions scoring at least ``s`` is a prefix of the full matching, so one pass serves every score
threshold.

Mask IoUs are exact pixel counts taken from the RLE runs (:func:`mask_intersections`): every mask's
pixels as one row of a sparse ``masks x pixels`` incidence matrix, so one sparse product gives the
intersection of every pair that overlaps at all (correct also where masks of one side overlap each
other), and IoU = I / (area_p + area_g - I), or I / area_p for crowd cells: the values
``pycocotools.mask.iou`` gives, as COCOeval computes them (``tests/test_mask_iou.py`` checks them equal).
Overlaps are kept as those pairs only (:class:`ImageOverlaps`), so matching and the taxonomy visit a few
pairs per prediction instead of ``n_pred x n_gt`` entries: on a 2,000-cell image the overlaps take ~20 ms
and the matching at ten IoU thresholds < 1 ms, where pycocotools' IoUs with a dense matrix took 75-125 ms
and the matching on it 90-120 ms (``benchmarks/browser_timings.py``). Box IoUs come from
``pycocotools.mask.iou``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import coo_matrix


@dataclass
class ImageOverlaps:
    """Overlaps of one image's predictions (rows, score order) with its ground-truth cells (columns).

    Kept sparse: only the pairs that overlap at all (a few per prediction), in row-major order (``rows``
    ascending, ``cols`` ascending within a row), with their IoU and intersection. ``order`` maps row k
    back to the caller's prediction index; the IoU is what COCOeval matches on (crowd columns use
    intersection over prediction area); intersections are in pixels (box area units for boxes). The
    pairs of the first ``n`` rows (the predictions kept at a score threshold) are a prefix
    (:meth:`pairs_below`). ``iou`` and ``intersection`` are the dense ``n_pred x n_gt`` matrices, built
    on first use (32 MB each for 2,000 x 2,000) for callers that want them.
    """

    rows: np.ndarray               # (n_pairs,) int64 prediction row of each overlapping pair
    cols: np.ndarray               # (n_pairs,) int64 cell column
    pair_iou: np.ndarray           # (n_pairs,) float64
    pair_intersection: np.ndarray  # (n_pairs,) float64
    pred_area: np.ndarray          # (n_pred,)
    gt_area: np.ndarray            # (n_gt,) mask (or box) area, not the record's 'area'
    scores: np.ndarray             # (n_pred,) descending
    order: np.ndarray              # (n_pred,) indices into the caller's prediction list
    gt_crowd: np.ndarray           # (n_gt,) bool

    @property
    def n_pred(self) -> int:
        return len(self.scores)

    @property
    def n_gt(self) -> int:
        return len(self.gt_area)

    def pairs_below(self, n_rows: int) -> int:
        """How many pairs belong to the first ``n_rows`` predictions (they come first)."""
        return int(np.searchsorted(self.rows, n_rows, side="left"))

    @cached_property
    def iou(self) -> np.ndarray:
        """Dense ``(n_pred, n_gt)`` IoU (0 where nothing overlaps)."""
        return self._dense(self.pair_iou)

    @cached_property
    def intersection(self) -> np.ndarray:
        """Dense ``(n_pred, n_gt)`` intersection."""
        return self._dense(self.pair_intersection)

    def _dense(self, values: np.ndarray) -> np.ndarray:
        out = np.zeros((self.n_pred, self.n_gt))
        out[self.rows, self.cols] = values
        return out


def score_order(scores: np.ndarray, max_dets: int | None = None) -> np.ndarray:
    """Indices sorting ``scores`` descending, ties kept in input order (COCOeval's mergesort)."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    return order if max_dets is None else order[:max_dets]


def image_overlaps(gt_objects: list, gt_crowd: np.ndarray, pred_objects: list, scores: np.ndarray, *,
                   max_dets: int | None = 2000, boxes: bool = False) -> ImageOverlaps:
    """IoU and intersection of one image's predictions with its ground truth.

    ``gt_objects`` / ``pred_objects`` are RLEs (bytes or str counts, or uncompressed counts lists) of one
    image size, or ``[x, y, w, h]`` boxes when ``boxes``; predictions are sorted by descending score and
    cut to ``max_dets`` like COCOeval.
    """
    scores = np.asarray(scores, dtype=np.float64)
    order = score_order(scores, max_dets)
    preds = [pred_objects[i] for i in order]
    gt_crowd = np.asarray(gt_crowd, dtype=bool).reshape(-1)
    if boxes:
        return _box_overlaps(preds, gt_objects, gt_crowd, scores[order], order)
    inter, pred_area, gt_area = mask_intersections(preds, gt_objects)
    rows, cols = inter.row.astype(np.int64), inter.col.astype(np.int64)
    values = inter.data.astype(np.float64)
    # pycocotools' rleIou: I / (area_p + area_g - I), or I / area_p against a crowd cell
    union = np.where(gt_crowd[cols], pred_area[rows], pred_area[rows] + gt_area[cols] - values)
    return ImageOverlaps(rows, cols, values / union, values, pred_area, gt_area, scores[order], order, gt_crowd)


def _box_overlaps(preds: list, gts: list, gt_crowd: np.ndarray, scores: np.ndarray,
                  order: np.ndarray) -> ImageOverlaps:
    from pycocotools import mask as mask_utils

    pred_area = np.array([b[2] * b[3] for b in preds], dtype=np.float64)
    gt_area = np.array([b[2] * b[3] for b in gts], dtype=np.float64)
    preds_in = np.asarray(preds, dtype=np.float64).reshape(-1, 4)
    gts_in = np.asarray(gts, dtype=np.float64).reshape(-1, 4)
    n_pred, n_gt = len(preds_in), len(gts_in)
    if n_pred == 0 or n_gt == 0:
        none = np.zeros(0, dtype=np.int64)
        return ImageOverlaps(none, none.copy(), np.zeros(0), np.zeros(0), pred_area, gt_area, scores, order,
                             gt_crowd)
    plain = np.asarray(mask_utils.iou(preds_in, gts_in, [0] * n_gt), dtype=np.float64).reshape(n_pred, n_gt)
    iou = plain
    if gt_crowd.any():
        iou = np.asarray(mask_utils.iou(preds_in, gts_in, gt_crowd.astype(np.uint8).tolist()),
                         dtype=np.float64).reshape(n_pred, n_gt)
    rows, cols = np.nonzero(plain > 0)
    # IoU = I / (a + b - I)  =>  I = IoU (a + b) / (1 + IoU)
    p = plain[rows, cols]
    inter = p * (pred_area[rows] + gt_area[cols]) / (1.0 + p)
    return ImageOverlaps(rows.astype(np.int64), cols.astype(np.int64), iou[rows, cols], inter, pred_area,
                         gt_area, scores, order, gt_crowd)


def rle_counts(rles: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Run lengths of many COCO RLEs at once: ``(counts, owner)`` with every RLE's uncompressed counts
    (alternating background / object runs, column-major, starting with background) concatenated and
    ``owner`` the index of the RLE each count belongs to. Compressed count strings are decoded by
    :func:`cellseg_nb.data.records.decode_rle_counts_many` in one vectorised pass over all of them,
    since a per-mask ``pycocotools.mask.decode`` writes a full ``H x W`` array for every mask."""
    from ..data.records import decode_rle_counts_many

    if not rles:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if any(isinstance(r["counts"], list) for r in rles):  # uncompressed counts lists
        raw = [np.asarray(r["counts"], dtype=np.int64) for r in rles]
        owner = np.repeat(np.arange(len(raw)), [len(c) for c in raw])
        return np.concatenate(raw), owner
    return decode_rle_counts_many([r["counts"] for r in rles], [tuple(r["size"]) for r in rles])


def rle_pixels(rles: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Every object pixel of many RLEs: ``(pixel, owner)``, the column-major flat index of each pixel
    (ascending within each RLE) and the index of its RLE (ascending), built from all run lengths at once
    (:func:`rle_counts`), never an ``H x W`` array per mask."""
    counts, owner = rle_counts(rles)
    if not counts.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    first = np.searchsorted(owner, owner, side="left")         # index of each RLE's first count
    ends = np.cumsum(counts)
    ends -= np.concatenate([[0], ends])[first]                 # run ends within each RLE
    run = ((np.arange(len(counts)) - first) % 2 == 1) & (counts > 0)  # object runs
    lengths, stops, who = counts[run], ends[run], owner[run]
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(stops - lengths, lengths) + offsets, np.repeat(who, lengths)


def mask_intersections(a_rles: Sequence[dict], b_rles: Sequence[dict]) -> tuple[coo_matrix, np.ndarray, np.ndarray]:
    """Pixel intersections of every mask of ``a_rles`` with every mask of ``b_rles`` (RLEs of one image
    size), and both sides' areas: ``(inter, area_a, area_b)``, ``inter`` a ``scipy.sparse`` COO matrix
    (``len(a) x len(b)``, int64) holding only the pairs that overlap, in row-major order.

    Each side is a sparse incidence matrix (mask x pixel, one entry per object pixel), so ``A @ B.T``
    counts for each pair the pixels both contain: exact whatever overlaps exist within a side, and about
    as costly as listing the pixels once."""
    from scipy import sparse

    sizes = {tuple(int(v) for v in size) for size in {tuple(r["size"]) for r in list(a_rles) + list(b_rles)}}
    if len(sizes) > 1:
        raise ValueError(f"masks of different sizes {sorted(sizes)} cannot be compared")
    n_pixels = int(np.prod(sizes.pop())) if sizes else 0

    def incidence(rles: Sequence[dict]):
        pixel, owner = rle_pixels(rles)
        area = np.bincount(owner, minlength=len(rles))
        indptr = np.concatenate([[0], np.cumsum(area)])
        ones = np.ones(len(pixel), dtype=np.int64)
        return sparse.csr_matrix((ones, pixel, indptr), shape=(len(rles), n_pixels)), area.astype(np.float64)

    a, area_a = incidence(a_rles)
    b, area_b = incidence(b_rles)
    inter = (a @ b.T).tocsr()
    inter.sort_indices()
    return inter.tocoo(), area_a, area_b


def greedy_match(iou: np.ndarray, threshold: float,
                 gt_ignore: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval's greedy matching of score-ordered predictions (rows) to cells (columns) at one IoU threshold.

    Returns ``pred_match`` (matched cell column per prediction, -1 when unmatched) and ``pred_ignored``
    (matched to an ignored/crowd cell: neither true nor false positive). Ignored cells may absorb any
    number of predictions. A pair matches when IoU >= threshold (COCOeval caps the threshold at
    1 - 1e-10). :func:`greedy_match_overlaps` does the same from the overlapping pairs only.
    """
    iou = np.asarray(iou, dtype=np.float64)
    thr = min(float(threshold), 1 - 1e-10)
    rows, cols = np.nonzero(iou >= thr)
    return _greedy(rows, cols, iou[rows, cols], iou.shape, thr, gt_ignore)


def greedy_match_overlaps(overlaps: ImageOverlaps, threshold: float,
                          gt_ignore: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`greedy_match` of ``overlaps.iou`` visiting only the overlapping pairs (a few per prediction,
    not ``n_pred x n_gt`` entries); ``gt_ignore`` defaults to the crowd cells."""
    thr = min(float(threshold), 1 - 1e-10)
    above = overlaps.pair_iou >= thr
    ignore = overlaps.gt_crowd if gt_ignore is None else gt_ignore
    return _greedy(overlaps.rows[above], overlaps.cols[above], overlaps.pair_iou[above],
                   (overlaps.n_pred, overlaps.n_gt), thr, ignore)


def _greedy(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int], thr: float,
            gt_ignore: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The greedy pass over the candidate pairs (IoU >= ``thr``) ``rows``, ``cols`` with IoU ``values``."""
    n_pred, n_gt = shape
    ignore = np.zeros(n_gt, dtype=bool) if gt_ignore is None else np.asarray(gt_ignore, dtype=bool)
    pred_match = np.full(n_pred, -1, dtype=np.int64)
    pred_ignored = np.zeros(n_pred, dtype=bool)
    if n_pred == 0 or n_gt == 0 or not len(rows):
        return pred_match, pred_ignored
    cell_taken = np.zeros(n_gt, dtype=bool)
    if not ignore.any():
        # A prediction whose only candidate cell (IoU >= thr) is wanted by no other prediction takes it
        # whatever the order; only predictions in contention need the sequential greedy pass.
        simple = (np.bincount(rows, minlength=n_pred)[rows] == 1) & (np.bincount(cols, minlength=n_gt)[cols] == 1)
        pred_match[rows[simple]] = cols[simple]
        cell_taken[cols[simple]] = True
        rows, cols, values = rows[~simple], cols[~simple], values[~simple]
    # Predictions in score order (rows ascending); each visits its candidate cells as COCOeval does:
    # non-ignored ones first, then by column, ties in IoU going to the later-visited cell.
    visit = np.lexsort((cols, ignore[cols], rows))
    rows, cols, values = rows[visit].tolist(), cols[visit].tolist(), values[visit].tolist()
    taken, crowd = cell_taken.tolist(), ignore.tolist()
    k, n = 0, len(rows)
    while k < n:
        d, best, best_iou = rows[k], -1, thr
        while k < n and rows[k] == d:
            g, value = cols[k], values[k]
            k += 1
            if taken[g] and not crowd[g]:
                continue
            if best > -1 and not crowd[best] and crowd[g]:
                while k < n and rows[k] == d:  # a real match beats any crowd cell: skip the rest
                    k += 1
                break
            if value < best_iou:
                continue
            best, best_iou = g, value
        if best > -1:
            pred_match[d] = best
            pred_ignored[d] = crowd[best]
            taken[best] = True
    return pred_match, pred_ignored


def matched_cells(pred_match: np.ndarray, pred_ignored: np.ndarray, n_gt: int) -> np.ndarray:
    """Bool per cell: matched by some non-ignored prediction."""
    out = np.zeros(n_gt, dtype=bool)
    hits = pred_match[(pred_match >= 0) & ~pred_ignored]
    out[hits] = True
    return out
