"""Semantic (background / interior / boundary) probabilities -> scored instances.

U-Nets predict three classes per pixel. Cells are recovered by labelling connected components of the
interior class (the seeds) and growing them over the whole foreground (interior + boundary) with a
seeded watershed on the background probability, so touching cells separated by a predicted boundary
become separate instances. Each instance's score is the mean foreground probability (interior +
boundary, i.e. 1 - background) over its pixels, which lets the COCO AP of U-Nets be computed like that of
CenterMask. (The mean *interior* probability would be a poor score: every cell's rim is boundary, so
even a confidently found small cell would score below 0.5 and vanish from F1 at a 0.5 threshold.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage


@dataclass(frozen=True)
class PostprocessParams:
    """Thresholds of :func:`semantic_to_instances` (probabilities in [0, 1], areas in pixels)."""

    interior_threshold: float = 0.5
    foreground_threshold: float = 0.5
    min_seed_area: int = 4
    min_area: int = 10
    watershed: bool = True


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
    """One image's eval-mode output dict from its 3 x H x W class probabilities."""
    if isinstance(probs, torch.Tensor):
        probs = probs.detach().float().cpu().numpy()
    labels = semantic_to_labels(probs, params)
    out = labels_to_instances(labels, 1.0 - probs[0])
    out["semantic_probs"] = torch.from_numpy(np.ascontiguousarray(probs, dtype=np.float32))
    return out
