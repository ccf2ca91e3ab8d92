"""Per-cell shape and per-image density numbers for the exploration plots, straight from the annotations.

Shapes come from the polygon itself (Green's theorem moments), so the table for all of LIVECell's
1.7 M cells is built without rasterising a single mask; confluence (covered fraction of the image)
rasterises each image's union once.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..data.coco import CocoDataset


def polygon_shape(coords: list[float]) -> dict[str, float]:
    """Area, perimeter, circularity (4 pi A / P^2, 1 for a disc) and the axis ratio of the polygon's
    second moments (1 for a disc, larger for elongated cells) of one polygon ``[x1, y1, x2, y2, ...]``."""
    xy = np.asarray(coords, dtype=float).reshape(-1, 2)
    x, y = xy[:, 0], xy[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    signed = cross.sum() / 2.0
    area = abs(signed)
    perimeter = float(np.hypot(xn - x, yn - y).sum())
    if area == 0:
        return {"area": 0.0, "perimeter": perimeter, "circularity": 0.0, "axis_ratio": float("nan")}
    cx = ((x + xn) * cross).sum() / (6 * signed)
    cy = ((y + yn) * cross).sum() / (6 * signed)
    sxx = ((x * x + x * xn + xn * xn) * cross).sum() / (12 * signed) - cx * cx
    syy = ((y * y + y * yn + yn * yn) * cross).sum() / (12 * signed) - cy * cy
    sxy = ((x * yn + 2 * x * y + 2 * xn * yn + xn * y) * cross).sum() / (24 * signed) - cx * cy
    half_trace, det = (sxx + syy) / 2, sxx * syy - sxy * sxy
    root = math.sqrt(max(half_trace * half_trace - det, 0.0))
    major, minor = half_trace + root, half_trace - root
    return {"area": float(area), "perimeter": perimeter,
            "circularity": float(min(4 * math.pi * area / perimeter ** 2, 1.0)) if perimeter else 0.0,
            "axis_ratio": float(math.sqrt(major / minor)) if minor > 0 else float("inf")}


def cell_shape_table(dataset: CocoDataset) -> pd.DataFrame:
    """One row per annotated cell: image id, cell type, elapsed hours, area (px), perimeter, circularity,
    axis ratio. Polygon annotations only (RLE records get their COCO ``area`` and NaN shape values)."""
    rows = []
    for image_id in dataset.image_ids:
        meta = dataset.meta(image_id)
        for ann in dataset.annotations_for(image_id):
            seg = ann["segmentation"]
            if isinstance(seg, list) and seg:
                shape = polygon_shape(max(seg, key=len))
            else:
                shape = {"area": float(ann.get("area", float("nan"))), "perimeter": float("nan"),
                         "circularity": float("nan"), "axis_ratio": float("nan")}
            rows.append({"image_id": image_id, "cell_type": meta.cell_type,
                         "elapsed_hours": meta.elapsed_hours, **shape})
    columns = ["image_id", "cell_type", "elapsed_hours", "area", "perimeter", "circularity", "axis_ratio"]
    return pd.DataFrame(rows, columns=columns)


def image_density_table(dataset: CocoDataset) -> pd.DataFrame:
    """One row per image: cell type, well, elapsed hours, cell count, cells per 100k px and confluence
    (fraction of pixels covered by at least one cell)."""
    from pycocotools import mask as mask_utils

    rows = []
    for image_id in dataset.image_ids:
        record, meta = dataset.image(image_id), dataset.meta(image_id)
        h, w = record["height"], record["width"]
        anns = dataset.annotations_for(image_id)
        rles = []
        for ann in anns:
            seg = ann["segmentation"]
            if isinstance(seg, list):
                rles.extend(mask_utils.frPyObjects(seg, h, w))
            else:
                rles.append(mask_utils.frPyObjects(seg, h, w) if isinstance(seg.get("counts"), list) else seg)
        covered = float(mask_utils.area(mask_utils.merge(rles))) if rles else 0.0
        rows.append({"image_id": image_id, "file_name": record["file_name"], "cell_type": meta.cell_type,
                     "well": meta.well, "elapsed_hours": meta.elapsed_hours, "n_cells": len(anns),
                     "cells_per_100k_px": len(anns) * 1e5 / (h * w), "confluence": covered / (h * w)})
    return pd.DataFrame(rows)


def per_type_summary(images: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """The headline table of notebook 01: images, cells and median size / shape / confluence per type."""
    from ..celltypes import CELL_TYPES, DISPLAY_NAMES

    by_image = images.groupby("cell_type").agg(images=("image_id", "size"), cells=("n_cells", "sum"),
                                              median_cells_per_image=("n_cells", "median"),
                                              median_confluence=("confluence", "median"))
    by_cell = cells.groupby("cell_type").agg(median_area_px=("area", "median"),
                                            median_circularity=("circularity", "median"),
                                            median_axis_ratio=("axis_ratio", "median"))
    table = by_image.join(by_cell, how="left")
    order = [c for c in CELL_TYPES if c in table.index]
    table = table.loc[order].reset_index()
    table.insert(0, "cell type", table.pop("cell_type").map(DISPLAY_NAMES))
    total = {"cell type": "all", "images": int(table["images"].sum()), "cells": int(table["cells"].sum()),
             "median_cells_per_image": float(images["n_cells"].median()),
             "median_confluence": float(images["confluence"].median()),
             "median_area_px": float(cells["area"].median()), "median_circularity": float(cells["circularity"].median()),
             "median_axis_ratio": float(cells["axis_ratio"].median())}
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)
