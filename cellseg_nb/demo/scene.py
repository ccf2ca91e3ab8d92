"""Place cells in an image: clustered growth, controlled touching/overlap, clipping at the border.

Every cell's footprint is the pycocotools rasterisation of its final (clipped, rounded) polygon, so the
annotation written to the json describes exactly the pixels the renderer draws as that cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pycocotools import mask as mask_utils

from ..data.geometry import polygon_area

from .morphology import Morphology, cell_outlines, sample_areas

#: Cells whose visible part is smaller than this (px) after clipping at the border are dropped.
MIN_VISIBLE_AREA = 20.0
#: Placement attempts per cell before it is given up (crowded images end below the target count).
ATTEMPTS = 6


@dataclass
class Cell:
    """One placed cell: its polygon in image coordinates and its footprint in a local window."""

    polygon: np.ndarray  #: (K, 2) float vertices (x, y), rounded to 0.01 px, inside the image
    x0: int              #: column of the local window's left edge
    y0: int              #: row of the local window's top edge
    mask: np.ndarray     #: bool footprint in the window (pycocotools rasterisation of ``polygon``)


def clip_polygon(xy: np.ndarray, width: float, height: float) -> np.ndarray:
    """Sutherland-Hodgman clip of a polygon to the rectangle [0, width] x [0, height]."""
    for axis, limit, keep_below in ((0, 0.0, False), (0, width, True), (1, 0.0, False), (1, height, True)):
        if len(xy) == 0:
            break
        vals = xy[:, axis]
        inside = vals <= limit if keep_below else vals >= limit
        if inside.all():
            continue
        nxt = np.roll(xy, -1, axis=0)
        nxt_inside = np.roll(inside, -1)
        denom = nxt[:, axis] - vals
        t = np.where(denom != 0, (limit - vals) / np.where(denom != 0, denom, 1.0), 0.0)
        cross = xy + t[:, None] * (nxt - xy)
        cross[:, axis] = limit
        pts = np.stack([xy, cross], axis=1)                       # (V, 2, 2)
        keep = np.stack([inside, inside != nxt_inside], axis=1)   # (V, 2)
        xy = pts[keep]
    return xy


def round_vertices(xy: np.ndarray) -> np.ndarray:
    """Round to 0.01 px, avoiding values where pycocotools' 1/5-px sub-grid rounding is a tie.

    pycocotools rasterises ``round(5 * x + 0.5)``; a coordinate such as 300.30 lands exactly on a tie,
    where float error (and so a whole-pixel shift) could flip the result. Nudging those by 0.01 px makes
    every rasterisation of the polygon, in its window or in the full image, give the same pixels.
    """
    hundredths = np.rint(np.asarray(xy, dtype=np.float64) * 100.0).astype(np.int64)
    hundredths += (hundredths % 20 == 10)
    return hundredths / 100.0


def rasterize_local(xy: np.ndarray) -> tuple[int, int, np.ndarray]:
    """(x0, y0, mask): the pycocotools rasterisation of polygon ``xy`` in its own bounding window.

    Shifting by whole pixels leaves pycocotools' rasterisation unchanged, so the window equals the
    full-image mask cropped (checked in tests/test_demo_generate.py).
    """
    x0 = int(np.floor(xy[:, 0].min()))
    y0 = int(np.floor(xy[:, 1].min()))
    w = int(np.ceil(xy[:, 0].max())) - x0 + 1
    h = int(np.ceil(xy[:, 1].max())) - y0 + 1
    local = (xy - (x0, y0)).ravel().tolist()
    rle = mask_utils.frPyObjects([local], h, w)
    return x0, y0, mask_utils.decode(rle)[:, :, 0].astype(bool)


def place_cells(morph: Morphology, count: int, area_scale: float, width: int, height: int,
                rng: np.random.Generator) -> list[Cell]:
    """Place up to ``count`` cells of one line in a ``width`` x ``height`` image.

    With probability ``morph.clustering`` a cell starts beside an earlier one (colonies, sheets, clumps);
    otherwise anywhere (including partly outside, then clipped). A candidate is rejected when more than
    ``morph.max_overlap`` of its pixels already belong to other cells; after :data:`ATTEMPTS` rejections
    the cell is skipped, so very crowded images hold somewhat fewer cells than asked.
    """
    tries = count * ATTEMPTS
    areas = sample_areas(morph, tries, rng, area_scale)
    radii = np.sqrt(areas / np.pi)
    chunk = max(count, 16)  # outlines are drawn chunk by chunk: most images use the first one or two
    outline_chunks: list[np.ndarray] = []
    u_cluster = rng.random(tries)
    u_pos = rng.random((tries, 2))
    u_angle = rng.uniform(0, 2 * np.pi, tries)
    u_gap = rng.uniform(0.7, 1.0, tries)
    u_parent = rng.random(tries)

    occupied = np.zeros((height, width), np.uint8)
    cells: list[Cell] = []
    centres: list[tuple[float, float, float]] = []
    attempt = 0
    margin = 0.5 * float(np.median(radii))
    while len(cells) < count and attempt < tries:
        k = attempt
        attempt += 1
        if centres and u_cluster[k] < morph.clustering:
            px, py, pr = centres[int(u_parent[k] * len(centres))]
            dist = (pr + radii[k]) * u_gap[k]
            cx, cy = px + dist * np.cos(u_angle[k]), py + dist * np.sin(u_angle[k])
        else:
            cx = -margin + u_pos[k, 0] * (width + 2 * margin)
            cy = -margin + u_pos[k, 1] * (height + 2 * margin)
        ix, iy = int(cx), int(cy)
        if 0 <= ix < width and 0 <= iy < height and occupied[iy, ix]:
            continue  # centre already inside a cell: the overlap would be far above the limit
        while len(outline_chunks) <= k // chunk:
            start = len(outline_chunks) * chunk
            outline_chunks.append(cell_outlines(morph, areas[start:start + chunk], rng))
        xy = outline_chunks[k // chunk][k % chunk] + (cx, cy)
        if xy[:, 0].min() < 0 or xy[:, 1].min() < 0 or xy[:, 0].max() > width or xy[:, 1].max() > height:
            xy = clip_polygon(xy, float(width), float(height))
            if len(xy) < 3 or polygon_area(xy) < MIN_VISIBLE_AREA:
                continue
        xy = round_vertices(xy)
        x0, y0, mask = rasterize_local(xy)
        window = occupied[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]]
        mask = mask[:window.shape[0], :window.shape[1]]
        size = int(mask.sum())
        if size < MIN_VISIBLE_AREA:
            continue
        if np.count_nonzero(window[mask]) > morph.max_overlap * size:
            continue
        window[mask] = np.minimum(window[mask], 254) + 1
        cells.append(Cell(polygon=xy, x0=x0, y0=y0, mask=mask))
        centres.append((float(cx), float(cy), float(radii[k])))
    return cells
