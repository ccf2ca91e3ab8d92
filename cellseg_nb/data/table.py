"""Per-image table (file-name metadata, cell count, confluence, mean cell area) and per-type summaries.

Areas and confluence are measured on pycocotools' rasterisation, in RLE form (no full masks are decoded):
a cell's area is its pixel count, an image's confluence the fraction of its pixels covered by the union of
its cells (overlaps counted once). These are the numbers growth analyses plot against elapsed time.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..celltypes import CELL_TYPES, DISPLAY_NAMES, parse_file_name
from .coco import CocoDataset, OnError
from .geometry import annotation_rle, confluence, rle_areas

TABLE_COLUMNS = ("image_id", "file_name", "cell_type", "display_cell_type", "well", "location", "elapsed_hours",
                 "crop", "synthetic", "width", "height", "cells", "confluence", "mean_cell_area")


def _image_measures(dataset: CocoDataset, img: dict) -> tuple[int, float, float]:
    anns = dataset.annotations_for(img["id"])
    h, w = int(img["height"]), int(img["width"])
    if not anns:
        return 0, 0.0, math.nan
    rles = [annotation_rle(a, h, w) for a in anns]
    return len(anns), confluence(rles, h, w), float(np.mean(rle_areas(rles)))


def image_table(dataset: CocoDataset) -> pd.DataFrame:
    """One row per image: metadata from the file name plus ``cells``, ``confluence``, ``mean_cell_area``.

    Images whose names are not LIVECell's get ``cell_type = "unknown"`` and empty metadata.
    """
    rows: list[dict[str, Any]] = []
    for img in dataset.images:
        try:
            meta = parse_file_name(img["file_name"]).as_dict()
            meta["display_cell_type"] = DISPLAY_NAMES[meta["cell_type"]]
        except ValueError:
            meta = {"cell_type": "unknown", "display_cell_type": "unknown", "well": None, "location": None,
                    "elapsed_hours": math.nan, "crop": None, "synthetic": False}
        cells, confluence, mean_area = _image_measures(dataset, img)
        rows.append({**meta, "image_id": img["id"], "file_name": img["file_name"], "width": int(img["width"]),
                     "height": int(img["height"]), "cells": cells, "confluence": confluence,
                     "mean_cell_area": mean_area})
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def summarize(dataset: CocoDataset, *, on_error: OnError = "raise", table: pd.DataFrame | None = None) -> dict:
    """Counts per cell type: ``{"images", "annotations", "per_cell_type": {type: {...}}}``.

    Per type: ``images``, ``cells``, ``mean_cells_per_image``, ``mean_cell_area`` (over all its cells, NaN
    without cells) and ``mean_confluence`` (over its images). With ``on_error="skip"`` the result also
    holds ``skipped``, the number of records dropped on load.
    """
    table = image_table(dataset) if table is None else table
    per_type: dict[str, dict[str, Any]] = {}
    order = [c for c in CELL_TYPES if c in set(table["cell_type"])] + \
        (["unknown"] if "unknown" in set(table["cell_type"]) else [])
    for cell_type in order:
        rows = table[table["cell_type"] == cell_type]
        cells = int(rows["cells"].sum())
        total_area = float((rows["mean_cell_area"].fillna(0) * rows["cells"]).sum())
        per_type[cell_type] = {
            "display_name": DISPLAY_NAMES.get(cell_type, cell_type),
            "images": int(len(rows)),
            "cells": cells,
            "mean_cells_per_image": cells / len(rows),
            "mean_cell_area": total_area / cells if cells else math.nan,
            "mean_confluence": float(rows["confluence"].mean()),
        }
    result: dict[str, Any] = {"images": int(len(table)), "annotations": int(table["cells"].sum()),
                              "per_cell_type": per_type}
    if on_error == "skip":
        result["skipped"] = len(dataset.skipped)
    return result
