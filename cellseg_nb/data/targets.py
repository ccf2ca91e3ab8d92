"""Training targets from COCO annotations: per-instance masks and the 3-class semantic map.

Instance masks are exactly pycocotools' rasterisation (``COCO.annToMask``): a polygon is rasterised by
``frPyObjects`` and its parts merged; so targets, evaluation and the published numbers agree pixel for
pixel.

Semantic map (U-Net targets): 0 = background, 1 = cell interior, 2 = cell boundary. The rule, which also
settles LIVECell's overlapping cells:

* a pixel of a cell is *boundary* when it lies within ``boundary_width`` pixels (8-connected, i.e.
  Chebyshev distance) of that cell's own outline; the image border is not an outline, since a cell cut by
  the border continues outside the field of view;
* a pixel covered by two or more cells is boundary, so overlapping and touching cells stay separated;
* every other covered pixel is interior, every uncovered pixel background.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import ndimage

from .geometry import annotation_rle

BACKGROUND, INTERIOR, BOUNDARY = 0, 1, 2
DEFAULT_BOUNDARY_WIDTH = 2
_EIGHT = np.ones((3, 3), dtype=bool)


def instance_masks(anns: Sequence[Mapping[str, Any]], height: int, width: int) -> np.ndarray:
    """``N x H x W`` uint8 masks, one per annotation, identical to ``COCO.annToMask``."""
    from pycocotools import mask as mask_utils

    if not anns:
        return np.zeros((0, height, width), np.uint8)
    decoded = mask_utils.decode([annotation_rle(a, height, width) for a in anns])
    return np.ascontiguousarray(np.moveaxis(decoded, -1, 0))


@dataclass
class RasterTargets:
    """The rasterised cells of one image, stored compactly as masks cropped to their extent.

    ``windows[k] = (top, left, bottom, right)`` (exclusive) is cell ``k``'s pixel extent, all zeros for a
    cell without pixels; ``crops[k]`` its mask inside that extent; ``semantic`` the full semantic map.
    """

    height: int
    width: int
    windows: np.ndarray
    crops: list[np.ndarray]
    semantic: np.ndarray

    def __len__(self) -> int:
        return len(self.crops)

    def masks(self) -> np.ndarray:
        """``N x H x W`` uint8 full-image masks."""
        return self.masks_in_window(0, 0, self.height, self.width, all_cells=True)[0]

    def masks_in_window(self, top: int, left: int, height: int, width: int, *,
                        all_cells: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Masks of the cells whose extent meets the window ``[top:top+height, left:left+width]``.

        Returns ``(K x height x width uint8, indices of those K cells)``; ``all_cells`` keeps every cell.
        """
        bottom, right = top + height, left + width
        w = self.windows
        if all_cells:
            idx = np.arange(len(self.crops))
        else:
            meets = (w[:, 2] > w[:, 0]) & (w[:, 0] < bottom) & (w[:, 2] > top) & (w[:, 1] < right) & (w[:, 3] > left)
            idx = np.flatnonzero(meets)
        out = np.zeros((len(idx), height, width), np.uint8)
        for j, k in enumerate(idx):
            t, l, b, r = (int(v) for v in w[k])
            if b <= t:
                continue
            y0, y1, x0, x1 = max(t, top), min(b, bottom), max(l, left), min(r, right)
            if y1 > y0 and x1 > x0:
                out[j, y0 - top:y1 - top, x0 - left:x1 - left] = self.crops[k][y0 - t:y1 - t, x0 - l:x1 - l]
        return out, idx


def _crop(mask: np.ndarray) -> tuple[tuple[int, int, int, int], np.ndarray]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not rows.size:
        return (0, 0, 0, 0), np.zeros((0, 0), np.uint8)
    t, b, l, r = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return (t, l, b, r), np.ascontiguousarray(mask[t:b, l:r], dtype=np.uint8)


def semantic_from_crops(windows: np.ndarray, crops: Sequence[np.ndarray], height: int, width: int,
                        boundary_width: int = DEFAULT_BOUNDARY_WIDTH) -> np.ndarray:
    """The semantic map (module docstring rule) from cropped cell masks."""
    coverage = np.zeros((height, width), np.uint8)
    boundary = np.zeros((height, width), bool)
    for (t, l, b, r), crop in zip(windows, crops):
        t, l, b, r = int(t), int(l), int(b), int(r)
        if b <= t:
            continue
        # one pixel of context where the crop edge is inside the image, so the outline there is seen;
        # beyond the image border the erosion treats pixels as cell (border_value=1)
        t0, l0, b0, r0 = max(t - 1, 0), max(l - 1, 0), min(b + 1, height), min(r + 1, width)
        padded = np.zeros((b0 - t0, r0 - l0), bool)
        padded[t - t0:t - t0 + crop.shape[0], l - l0:l - l0 + crop.shape[1]] = crop.astype(bool)
        inner = ndimage.binary_erosion(padded, structure=_EIGHT, iterations=boundary_width, border_value=1) \
            if boundary_width > 0 else padded
        coverage[t0:b0, l0:r0] += padded
        boundary[t0:b0, l0:r0] |= padded & ~inner
    semantic = np.zeros((height, width), np.uint8)
    semantic[coverage > 0] = INTERIOR
    semantic[boundary | (coverage > 1)] = BOUNDARY
    return semantic


def semantic_target(masks: np.ndarray, boundary_width: int = DEFAULT_BOUNDARY_WIDTH) -> np.ndarray:
    """``H x W`` uint8 semantic map (0 background, 1 interior, 2 boundary) from ``N x H x W`` masks."""
    masks = np.asarray(masks)
    height, width = masks.shape[-2:]
    cropped = [_crop(m) for m in masks]
    windows = np.array([w for w, _ in cropped], np.int32).reshape(-1, 4)
    return semantic_from_crops(windows, [c for _, c in cropped], height, width, boundary_width)


def rasterize(anns: Sequence[Mapping[str, Any]], height: int, width: int,
              boundary_width: int = DEFAULT_BOUNDARY_WIDTH) -> RasterTargets:
    """Rasterise an image's annotations into :class:`RasterTargets` (pycocotools masks, cropped)."""
    from pycocotools import mask as mask_utils

    windows = np.zeros((len(anns), 4), np.int32)
    crops: list[np.ndarray] = []
    for k, ann in enumerate(anns):
        rle = annotation_rle(ann, height, width)
        x, y, w, h = (int(round(v)) for v in mask_utils.toBbox(rle))
        if w <= 0 or h <= 0:
            crops.append(np.zeros((0, 0), np.uint8))
            continue
        full = mask_utils.decode(rle)
        windows[k] = (y, x, y + h, x + w)
        crops.append(np.ascontiguousarray(full[y:y + h, x:x + w]))
    return RasterTargets(height, width, windows, crops,
                         semantic_from_crops(windows, crops, height, width, boundary_width))
