"""COCO geometry, one definition each: polygons, RLEs, boxes, shape features and confluence.

* Polygons are LIVECell's: one flat ``[x1, y1, x2, y2, ...]`` list of float vertices per part (an (N, 2)
  array is accepted too). Area is the shoelace area (LIVECell's ``area`` field), the box the vertices'
  extent (its ``bbox``).
* A segmentation (polygon parts, an uncompressed RLE or a compressed RLE) becomes one compressed RLE
  exactly as ``pycocotools.COCO.annToRLE`` builds it, so targets, evaluation and the published numbers
  agree pixel for pixel.
* Shape: circularity ``4 pi A / P^2`` (1 for a disc) and elongation, the square root of the ratio of the
  principal second moments of the polygon's *area* (1 for a disc, 2 for an ellipse twice as long as
  wide). Area moments do not depend on how densely the outline is sampled, unlike the vertices'
  covariance. Solidity is area over convex-hull area.
* Confluence is the fraction of an image covered by at least one cell (overlaps counted once).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np


def polygon_xy(polygon: Sequence[float] | np.ndarray) -> np.ndarray:
    """A polygon as an (N, 2) float64 array of x, y vertices."""
    return np.asarray(polygon, dtype=np.float64).reshape(-1, 2)


def _cross(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = xy[:, 0], xy[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    return x, y, xn, yn, x * yn - xn * y


def polygon_area(polygon: Sequence[float] | np.ndarray) -> float:
    """Shoelace area (absolute value) of one polygon; 0 for fewer than three vertices."""
    xy = polygon_xy(polygon)
    if len(xy) < 3:
        return 0.0
    return float(abs(_cross(xy)[4].sum()) / 2.0)


def polygon_perimeter(polygon: Sequence[float] | np.ndarray) -> float:
    """Length of the closed outline."""
    xy = polygon_xy(polygon)
    return float(np.hypot(*(np.roll(xy, -1, axis=0) - xy).T).sum()) if len(xy) > 1 else 0.0


def polygon_bbox(polygon: Sequence[float] | np.ndarray) -> list[float]:
    """``[x, y, w, h]``: the extent of the vertices (LIVECell's ``bbox``)."""
    xy = polygon_xy(polygon)
    x0, y0 = float(xy[:, 0].min()), float(xy[:, 1].min())
    return [x0, y0, float(xy[:, 0].max()) - x0, float(xy[:, 1].max()) - y0]


class Shape(NamedTuple):
    """Size and shape of one polygon (see the module docstring for the definitions)."""

    area: float
    perimeter: float
    circularity: float
    elongation: float
    solidity: float


def polygon_shape(polygon: Sequence[float] | np.ndarray, *, solidity: bool = True) -> Shape:
    """Area, perimeter, circularity, elongation (area moments) and solidity of one polygon. A degenerate
    polygon (no area) has circularity 0 and elongation NaN. ``solidity=False`` skips the convex hull
    (solidity NaN), for tables of millions of cells."""
    xy = polygon_xy(polygon)
    perimeter = polygon_perimeter(xy)
    if len(xy) < 3:
        return Shape(0.0, perimeter, 0.0, math.nan, 1.0)
    x, y, xn, yn, cross = _cross(xy)
    signed = cross.sum() / 2.0
    area = abs(signed)
    if area == 0:
        return Shape(0.0, perimeter, 0.0, math.nan, 1.0)
    cx = ((x + xn) * cross).sum() / (6 * signed)
    cy = ((y + yn) * cross).sum() / (6 * signed)
    sxx = ((x * x + x * xn + xn * xn) * cross).sum() / (12 * signed) - cx * cx
    syy = ((y * y + y * yn + yn * yn) * cross).sum() / (12 * signed) - cy * cy
    sxy = ((x * yn + 2 * x * y + 2 * xn * yn + xn * y) * cross).sum() / (24 * signed) - cx * cy
    half_trace, det = (sxx + syy) / 2, sxx * syy - sxy * sxy
    root = math.sqrt(max(half_trace * half_trace - det, 0.0))
    major, minor = half_trace + root, half_trace - root
    elongation = math.sqrt(major / minor) if minor > 0 else math.inf
    circularity = min(4 * math.pi * area / perimeter ** 2, 1.0) if perimeter else 0.0
    return Shape(float(area), perimeter, float(circularity), float(elongation),
                 _solidity(xy, area) if solidity else math.nan)


def _solidity(xy: np.ndarray, area: float) -> float:
    from scipy.spatial import ConvexHull, QhullError

    try:
        hull = ConvexHull(xy).volume
    except (QhullError, ValueError):  # collinear or repeated vertices
        return 1.0
    return float(min(area / hull, 1.0)) if hull > 0 else 1.0


def polygon_annotation(ann_id: int, image_id: Any, polygon: Sequence[float] | np.ndarray, *,
                       category_id: int = 1) -> dict:
    """A COCO annotation record of one polygon as LIVECell writes it: ``segmentation`` one float polygon,
    ``area`` its shoelace area, ``bbox`` its extent, ``iscrowd`` 0."""
    xy = polygon_xy(polygon)
    return {"id": ann_id, "image_id": image_id, "category_id": int(category_id),
            "segmentation": [[float(v) for v in xy.reshape(-1)]], "area": polygon_area(xy),
            "bbox": polygon_bbox(xy), "iscrowd": 0}


def segmentation_rle(seg: Any, height: int, width: int) -> dict:
    """One compressed RLE (bytes counts) of a segmentation: polygon parts merged, an uncompressed RLE
    encoded, a compressed RLE passed through (as ``COCO.annToRLE``)."""
    from pycocotools import mask as mask_utils

    if isinstance(seg, list):
        return mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
    if isinstance(seg.get("counts"), list):
        return mask_utils.frPyObjects(seg, height, width)
    counts = seg["counts"]
    return {"size": list(seg["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def annotation_rle(ann: Mapping[str, Any], height: int, width: int) -> dict:
    """The annotation's segmentation as one compressed RLE."""
    return segmentation_rle(ann["segmentation"], height, width)


def annotation_rles(anns: Sequence[Mapping[str, Any]], height: int, width: int) -> list[dict]:
    """RLEs (bytes counts) of one image's annotations, as :func:`annotation_rle` gives each, converting all
    polygons in one pycocotools call (the evaluation's hot path)."""
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


def rle_areas(rles: Sequence[dict]) -> np.ndarray:
    """Pixel areas of RLEs as float64.

    ``pycocotools.mask.area`` overflows for lists of more than 255 masks under numpy 2 (it sizes a
    placeholder array as uint8), so the list is passed in chunks.
    """
    from pycocotools import mask as mask_utils

    rles = list(rles)
    if not rles:
        return np.zeros(0)
    return np.concatenate([np.asarray(mask_utils.area(rles[i:i + 255]), dtype=np.float64)
                           for i in range(0, len(rles), 255)])


def confluence(rles: Sequence[dict], height: int, width: int) -> float:
    """Fraction of the ``height x width`` image covered by the union of ``rles``."""
    from pycocotools import mask as mask_utils

    rles = list(rles)
    if not rles:
        return 0.0
    union = mask_utils.merge(rles, intersect=0) if len(rles) > 1 else rles[0]
    return float(mask_utils.area(union)) / float(height * width)


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """``N x 4`` float32 boxes ``(x1, y1, x2, y2)`` with exclusive max (pixel extent); empty masks give zeros."""
    masks = np.asarray(masks).astype(bool)
    boxes = np.zeros((len(masks), 4), np.float32)
    if len(masks):
        rows, cols = masks.any(2), masks.any(1)
        h, w = masks.shape[1:]
        filled = rows.any(1)
        boxes[:, 0] = cols.argmax(1)
        boxes[:, 1] = rows.argmax(1)
        boxes[:, 2] = w - cols[:, ::-1].argmax(1)
        boxes[:, 3] = h - rows[:, ::-1].argmax(1)
        boxes[~filled] = 0
    return boxes
