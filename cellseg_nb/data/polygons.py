"""Cell outlines as polygons through the same crop and dihedral transform as the image, so CenterMask's
mask targets can be rasterised from the polygons at 28 x 28 per RoI as detectron2 does
(``PolygonMasks.crop_and_resize``), not resampled from a bitmask.

A polygon is a flat float64 array ``[x0, y0, x1, y1, ...]`` in pixel-edge coordinates (COCO). Cropping
clips each polygon to the window (Sutherland-Hodgman against the window's four edges, as detectron2's
crop clips polygons to the crop box), then the dihedral transform maps the coordinates the way
:func:`cellseg_nb.data.transforms.apply_geometry` maps pixels.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .transforms import Geometry


def _clip_edge(points: np.ndarray, axis: int, bound: float, keep_below: bool) -> np.ndarray:
    """Sutherland-Hodgman step: keep the part of a closed polygon (K x 2) on one side of a line."""
    if len(points) == 0:
        return points
    inside = points[:, axis] <= bound if keep_below else points[:, axis] >= bound
    out: list[np.ndarray] = []
    for i in range(len(points)):
        cur, prev = points[i], points[i - 1]
        cur_in, prev_in = inside[i], inside[i - 1]
        if cur_in != prev_in:
            t = (bound - prev[axis]) / (cur[axis] - prev[axis])
            out.append(prev + t * (cur - prev))
        if cur_in:
            out.append(cur)
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def clip_polygon(polygon: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """The part of ``polygon`` (flat x, y array) inside the rectangle ``[x0, x1] x [y0, y1]`` (flat;
    empty when fewer than 3 points remain)."""
    pts = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    if lo[0] >= x0 and lo[1] >= y0 and hi[0] <= x1 and hi[1] <= y1:  # inside: nothing to clip (most cells)
        return pts.reshape(-1) if len(pts) >= 3 else np.zeros(0, np.float64)
    if hi[0] <= x0 or hi[1] <= y0 or lo[0] >= x1 or lo[1] >= y1:  # outside
        return np.zeros(0, np.float64)
    for axis, bound, below in ((0, x0, False), (0, x1, True), (1, y0, False), (1, y1, True)):
        pts = _clip_edge(pts, axis, bound, below)
    return pts.reshape(-1) if len(pts) >= 3 else np.zeros(0, np.float64)


def transform_polygon(polygon: np.ndarray, geom: Geometry, height: int, width: int) -> np.ndarray:
    """Map a flat polygon of a ``height x width`` window through ``geom`` (rot90 ``k`` times, then the flips),
    in the same sense as ``apply_geometry`` maps pixels: one numpy ``rot90`` takes (x, y) to (y, W - x)."""
    pts = np.asarray(polygon, dtype=np.float64).reshape(-1, 2).copy()
    h, w = height, width
    for _ in range(geom.k % 4):
        pts = np.stack([pts[:, 1], w - pts[:, 0]], axis=1)
        h, w = w, h
    if geom.hflip:
        pts[:, 0] = w - pts[:, 0]
    if geom.vflip:
        pts[:, 1] = h - pts[:, 1]
    return pts.reshape(-1)


def window_polygons(anns: Sequence[Mapping[str, Any]], indices: Sequence[int],
                    window: tuple[int, int, int, int], geom: Geometry) -> list[list[np.ndarray]] | None:
    """Polygons of the cells ``indices`` of ``anns`` in the crop ``window = (top, left, h, w)`` after ``geom``;
    None when any of them is not a polygon (RLE) or has nothing left in the window (then the caller
    keeps the bitmask path for the whole image)."""
    top, left, h, w = window
    out: list[list[np.ndarray]] = []
    for k in indices:
        seg = anns[int(k)].get("segmentation")
        if not isinstance(seg, list) or not seg:
            return None
        parts = []
        for poly in seg:
            p = np.asarray(poly, dtype=np.float64).reshape(-1, 2) - np.array([left, top], np.float64)
            clipped = clip_polygon(p.reshape(-1), 0.0, 0.0, float(w), float(h))
            if clipped.size:
                parts.append(transform_polygon(clipped, geom, h, w))
        if not parts:
            return None
        out.append(parts)
    return out
