"""Per-cell shape and per-image density numbers for the exploration plots, straight from the annotations.

Shapes come from the polygon itself (Green's theorem moments), so the table for all of LIVECell's
1.7 M cells is built without rasterising a single mask; confluence (covered fraction of the image)
rasterises each image's union once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.coco import CocoDataset
from ..data.geometry import annotation_rle, confluence, polygon_shape


def cell_shape_table(dataset: CocoDataset) -> pd.DataFrame:
    """One row per annotated cell: image id, cell type, elapsed hours, area (px), perimeter, circularity,
    elongation (:func:`cellseg_nb.data.geometry.polygon_shape`). Polygon annotations only (RLE records get
    their COCO ``area`` and NaN shape values)."""
    rows = []
    for image_id in dataset.image_ids:
        meta = dataset.meta(image_id)
        for ann in dataset.annotations_for(image_id):
            seg = ann["segmentation"]
            if isinstance(seg, list) and seg:
                shape = polygon_shape(max(seg, key=len), solidity=False)._asdict()
                shape.pop("solidity")
            else:
                shape = {"area": float(ann.get("area", float("nan"))), "perimeter": float("nan"),
                         "circularity": float("nan"), "elongation": float("nan")}
            rows.append({"image_id": image_id, "cell_type": meta.cell_type,
                         "elapsed_hours": meta.elapsed_hours, **shape})
    columns = ["image_id", "cell_type", "elapsed_hours", "area", "perimeter", "circularity", "elongation"]
    return pd.DataFrame(rows, columns=columns)


def image_density_table(dataset: CocoDataset) -> pd.DataFrame:
    """One row per image: cell type, well, elapsed hours, cell count, cells per 100k px and confluence
    (fraction of pixels covered by at least one cell)."""
    rows = []
    for image_id in dataset.image_ids:
        record, meta = dataset.image(image_id), dataset.meta(image_id)
        h, w = record["height"], record["width"]
        anns = dataset.annotations_for(image_id)
        covered = confluence([annotation_rle(a, h, w) for a in anns], h, w)
        rows.append({"image_id": image_id, "file_name": record["file_name"], "cell_type": meta.cell_type,
                     "well": meta.well, "elapsed_hours": meta.elapsed_hours, "n_cells": len(anns),
                     "cells_per_100k_px": len(anns) * 1e5 / (h * w), "confluence": covered})
    return pd.DataFrame(rows)


def per_type_summary(images: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """The headline table of notebook 01: images, cells and median size / shape / confluence per type."""
    from ..celltypes import CELL_TYPES, DISPLAY_NAMES

    by_image = images.groupby("cell_type").agg(images=("image_id", "size"), cells=("n_cells", "sum"),
                                              median_cells_per_image=("n_cells", "median"),
                                              median_confluence=("confluence", "median"))
    by_cell = cells.groupby("cell_type").agg(median_area_px=("area", "median"),
                                            median_circularity=("circularity", "median"),
                                            median_elongation=("elongation", "median"))
    table = by_image.join(by_cell, how="left")
    order = [c for c in CELL_TYPES if c in table.index]
    table = table.loc[order].reset_index()
    table.insert(0, "cell type", table.pop("cell_type").map(DISPLAY_NAMES))
    total = {"cell type": "all", "images": int(table["images"].sum()), "cells": int(table["cells"].sum()),
             "median_cells_per_image": float(images["n_cells"].median()),
             "median_confluence": float(images["confluence"].median()),
             "median_area_px": float(cells["area"].median()), "median_circularity": float(cells["circularity"].median()),
             "median_elongation": float(cells["elongation"].median())}
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)
