"""Semantic (background / interior / boundary) probabilities -> scored instances.

U-Nets predict three classes per pixel. Cells are recovered by labelling connected components of the
interior class (the seeds) and growing them over the whole foreground (interior + boundary) with a
seeded watershed on the background probability, so touching cells separated by a predicted boundary
become separate instances.

Scores. Uncalibrated, an instance's score is its mean foreground probability (interior + boundary, i.e.
1 - background). That ranks instances but does not spread them: nearly every instance of a trained U-Net
scores above 0.9, so no score threshold trades precision against recall. Each instance therefore also
carries three features (:data:`INSTANCE_FEATURES`): the mean foreground probability, the boundary
contrast (mean foreground probability inside minus in a 2-pixel ring outside: a crisp, isolated cell
scores high, a fragment or a smear of background low) and the log area. A *calibration*
(``PostprocessParams.calibration``: intercept and one weight per feature of a logistic regression,
fitted on the validation split by :mod:`cellseg_nb.train.calibrate` to whether each instance matches a
cell at IoU >= 0.5) turns them into the score: the estimated probability that the instance is a real,
well-outlined cell. Then a threshold of 0.7 keeps instances that match about 70 % of the time or more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage


#: Per-instance features the calibration uses, in order.
INSTANCE_FEATURES: tuple[str, ...] = ("mean_foreground", "boundary_contrast", "log_area")


@dataclass(frozen=True)
class PostprocessParams:
    """Thresholds of :func:`semantic_to_instances` (probabilities in [0, 1], areas in pixels)."""

    interior_threshold: float = 0.5
    foreground_threshold: float = 0.5
    min_seed_area: int = 4
    min_area: int = 10
    watershed: bool = True
    #: logistic score calibration ``(intercept, w_mean_foreground, w_boundary_contrast, w_log_area)``;
    #: None = the mean foreground probability
    calibration: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.calibration is not None:
            values = tuple(float(v) for v in self.calibration)
            if len(values) != len(INSTANCE_FEATURES) + 1 or not all(np.isfinite(values)):
                raise ValueError(f"calibration needs {len(INSTANCE_FEATURES) + 1} finite numbers (intercept, "
                                 f"{', '.join(INSTANCE_FEATURES)}), got {self.calibration!r}")
            object.__setattr__(self, "calibration", values)


def instance_features(labels: np.ndarray, foreground: np.ndarray, ring: int = 2) -> np.ndarray:
    """``N x 3`` features of instances ``1..N`` of ``labels`` (see :data:`INSTANCE_FEATURES`) from the
    foreground probability map; an instance with no background ring (it fills the image) gets contrast 0."""
    n = int(labels.max())
    if n == 0:
        return np.zeros((0, len(INSTANCE_FEATURES)), dtype=np.float32)
    index = np.arange(1, n + 1)
    inside = np.asarray(ndimage.mean(foreground, labels=labels, index=index), dtype=np.float64)
    grown = ndimage.grey_dilation(labels, size=(2 * ring + 1, 2 * ring + 1))
    ring_labels = np.where(labels == 0, grown, 0)
    counts = np.bincount(ring_labels.ravel(), minlength=n + 1)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):  # an instance without ring: NaN, replaced below
        outside = np.asarray(ndimage.mean(foreground, labels=ring_labels, index=index), dtype=np.float64)
    contrast = np.where(counts > 0, inside - np.nan_to_num(outside), 0.0)
    area = np.bincount(labels.ravel(), minlength=n + 1)[1:].astype(np.float64)
    return np.stack([inside, contrast, np.log(np.maximum(area, 1.0))], axis=1).astype(np.float32)


def calibrated_scores(features: np.ndarray, calibration: tuple[float, ...]) -> np.ndarray:
    """Logistic scores ``1 / (1 + exp(-(b + features @ w)))`` in [0, 1]."""
    b, w = calibration[0], np.asarray(calibration[1:], dtype=np.float64)
    z = b + np.asarray(features, dtype=np.float64) @ w
    return (1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))).astype(np.float32)


def semantic_to_labels(probs: np.ndarray, params: PostprocessParams = PostprocessParams()) -> np.ndarray:
    """Label image (int32, 0 = background) from ``probs`` of shape 3 x H x W (bg, interior, boundary)."""
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 3 or probs.shape[0] != 3:
        raise ValueError(f"probs must have shape (3, H, W), got {probs.shape}")
    interior = probs[1] >= params.interior_threshold
    foreground = (probs[1] + probs[2]) >= params.foreground_threshold
    seeds, n = ndimage.label(interior)
    if n == 0:
        return seeds.astype(np.int32)
    sizes = np.bincount(seeds.ravel(), minlength=n + 1)
    keep = sizes >= params.min_seed_area
    keep[0] = False
    remap = np.zeros(n + 1, dtype=np.int32)
    remap[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    seeds = remap[seeds]
    if params.watershed and seeds.max() > 0:
        from skimage.segmentation import watershed

        labels = watershed(probs[0], markers=seeds, mask=foreground | (seeds > 0))
    else:
        labels = seeds
    labels = labels.astype(np.int32)
    sizes = np.bincount(labels.ravel())
    small = np.flatnonzero(sizes < params.min_area)
    small = small[small > 0]
    if small.size:
        labels[np.isin(labels, small)] = 0
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int32) if labels.max() > 0 else labels


def labels_to_instances(labels: np.ndarray, score_map: np.ndarray) -> dict[str, torch.Tensor]:
    """``masks`` bool N x H x W, ``scores`` (mean of ``score_map`` over each instance) and ``boxes`` x1,y1,x2,y2."""
    n = int(labels.max())
    h, w = labels.shape
    if n == 0:
        return {"masks": torch.zeros((0, h, w), dtype=torch.bool), "scores": torch.zeros(0),
                "boxes": torch.zeros((0, 4))}
    index = np.arange(1, n + 1)
    scores = ndimage.mean(score_map, labels=labels, index=index).astype(np.float32)
    masks = labels[None] == index[:, None, None]
    boxes = np.zeros((n, 4), dtype=np.float32)
    for i, sl in enumerate(ndimage.find_objects(labels)):
        ys, xs = sl
        boxes[i] = (xs.start, ys.start, xs.stop, ys.stop)
    return {"masks": torch.from_numpy(masks), "scores": torch.from_numpy(scores), "boxes": torch.from_numpy(boxes)}


def semantic_to_instances(probs: torch.Tensor | np.ndarray,
                          params: PostprocessParams = PostprocessParams()) -> dict[str, torch.Tensor]:
    """One image's eval-mode output dict from its 3 x H x W class probabilities: ``masks``, ``scores``
    (calibrated when ``params.calibration`` is set), ``boxes``, ``features`` (N x 3, see
    :func:`instance_features`) and ``semantic_probs``."""
    if isinstance(probs, torch.Tensor):
        probs = probs.detach().float().cpu().numpy()
    labels = semantic_to_labels(probs, params)
    foreground = 1.0 - probs[0]
    out = labels_to_instances(labels, foreground)
    features = instance_features(labels, foreground)
    out["features"] = torch.from_numpy(features)
    if params.calibration is not None:
        out["scores"] = torch.from_numpy(calibrated_scores(features, params.calibration))
    out["semantic_probs"] = torch.from_numpy(np.ascontiguousarray(probs, dtype=np.float32))
    return out
