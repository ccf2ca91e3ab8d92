"""Polygon geometry for cut-and-paste: rigid transforms, exact clipping to the image, rasterisation.

The compositor's contract is that a pasted cell's footprint IS the pycocotools rasterisation of the
polygon written to the json. Three choices make that hold exactly:

* polygons are clipped to the image rectangle with Sutherland-Hodgman (exact for a convex clip window),
* vertices are quantised to multiples of 1/64 px, so shifting a polygon by a whole number of pixels is
  exact in floating point and pycocotools' fixed-point upsampling gives the same pixels in a local
  window as in the full image,
* footprints are rasterised by pycocotools itself (:func:`rasterize_window`).
"""

from __future__ import annotations

import math

import numpy as np
from pycocotools import mask as mask_utils

#: Vertices are rounded to this grid (1/64 px: exact in binary floating point).
QUANTUM = 1.0 / 64.0


def rigid_matrix(angle_deg: float, flip: bool) -> np.ndarray:
    """2x2 matrix acting on (x, y) column vectors: an optional mirror in x, then a rotation by ``angle_deg``."""
    t = math.radians(angle_deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    mirror = np.array([[-1.0, 0.0], [0.0, 1.0]]) if flip else np.eye(2)
    return rot @ mirror


def transform_points(xy: np.ndarray, matrix: np.ndarray, center: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Map points by ``q = matrix @ (p - center) + target`` (row-vector form)."""
    return (xy - center) @ matrix.T + target


def _clip_edge(points: list[tuple[float, float]], inside, intersect) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    if not points:
        return out
    prev = points[-1]
    prev_in = inside(prev)
    for cur in points:
        cur_in = inside(cur)
        if cur_in:
            if not prev_in:
                out.append(intersect(prev, cur))
            out.append(cur)
        elif prev_in:
            out.append(intersect(prev, cur))
        prev, prev_in = cur, cur_in
    return out


def clip_to_rectangle(xy: np.ndarray, width: float, height: float) -> np.ndarray:
    """Clip a polygon to the rectangle [0, width] x [0, height] (Sutherland-Hodgman; exact).

    Returns an (M, 2) array, possibly with fewer than 3 vertices when nothing is left. A polygon that
    already lies inside is returned unchanged (no copy of the work).
    """
    if xy[:, 0].min() >= 0 and xy[:, 1].min() >= 0 and xy[:, 0].max() <= width and xy[:, 1].max() <= height:
        return xy
    pts = [(float(x), float(y)) for x, y in xy]

    def at_x(x0: float):
        def cut(p, q):
            t = (x0 - p[0]) / (q[0] - p[0])
            return (x0, p[1] + t * (q[1] - p[1]))
        return cut

    def at_y(y0: float):
        def cut(p, q):
            t = (y0 - p[1]) / (q[1] - p[1])
            return (p[0] + t * (q[0] - p[0]), y0)
        return cut

    pts = _clip_edge(pts, lambda p: p[0] >= 0.0, at_x(0.0))
    pts = _clip_edge(pts, lambda p: p[0] <= width, at_x(float(width)))
    pts = _clip_edge(pts, lambda p: p[1] >= 0.0, at_y(0.0))
    pts = _clip_edge(pts, lambda p: p[1] <= height, at_y(float(height)))
    return np.asarray(pts, dtype=np.float64).reshape(-1, 2)


def quantize(xy: np.ndarray, width: float, height: float) -> np.ndarray:
    """Round vertices to the 1/64 px grid, keep them inside the image and drop repeated vertices."""
    q = np.round(xy / QUANTUM) * QUANTUM
    q[:, 0] = np.clip(q[:, 0], 0.0, float(width))
    q[:, 1] = np.clip(q[:, 1], 0.0, float(height))
    if len(q) > 1:
        keep = np.any(q != np.roll(q, 1, axis=0), axis=1)
        q = q[keep]
    return q


def window_of(xy: np.ndarray, width: int, height: int, pad: int = 1) -> tuple[int, int, int, int]:
    """Integer window (x0, y0, x1, y1) holding the polygon plus ``pad`` px, clipped to the image."""
    x0 = max(0, int(math.floor(xy[:, 0].min())) - pad)
    y0 = max(0, int(math.floor(xy[:, 1].min())) - pad)
    x1 = min(width, int(math.ceil(xy[:, 0].max())) + pad + 1)
    y1 = min(height, int(math.ceil(xy[:, 1].max())) + pad + 1)
    return x0, y0, x1, y1


def rasterize_window(xy: np.ndarray, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """pycocotools rasterisation of the polygon inside the window at (x0, y0) of size w x h (bool h x w).

    For vertices on the 1/64 grid and a window that contains the polygon (or ends where the image
    ends), this equals the corresponding crop of the full-image rasterisation.
    """
    local = (xy - np.array([x0, y0], dtype=np.float64)).reshape(-1).tolist()
    rles = mask_utils.frPyObjects([local], h, w)
    return mask_utils.decode(rles)[:, :, 0].astype(bool)


def rasterize_full(polygons: list[list[float]], width: int, height: int) -> np.ndarray:
    """Union of COCO polygons rasterised by pycocotools over the whole image (bool H x W)."""
    if not polygons:
        return np.zeros((height, width), dtype=bool)
    rles = mask_utils.frPyObjects(polygons, height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)
