"""Views of the synthetic extension for notebook 02: the per-type summary table and real / synthetic pairs."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from ..celltypes import CELL_TYPES, DISPLAY_NAMES
from ..data.splits import SplitData


def synthesis_summary(per_type: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per cell type from :attr:`cellseg_nb.synth.SynthResult.per_type`: source and synthetic
    images, pasted cells, cells per synthetic image (median), bank size and shortfalls; plus a total row."""
    rows = []
    for cell_type in [c for c in CELL_TYPES if c in per_type] + sorted(set(per_type) - set(CELL_TYPES)):
        stats = per_type[cell_type]
        counts = stats.get("counts") or []
        rows.append({"cell type": DISPLAY_NAMES.get(cell_type, cell_type),
                     "real images": stats.get("source_images", 0), "synthetic images": stats["synthetic_images"],
                     "pasted cells": stats["cells"],
                     "median cells per image": float(np.median(counts)) if counts else float("nan"),
                     "bank cells": stats.get("bank_cells", 0), "shortfalls": stats.get("shortfalls", 0)})
    table = pd.DataFrame(rows)
    if not table.empty:
        total = {c: table[c].sum() for c in table.columns if c not in ("cell type", "median cells per image")}
        table = pd.concat([table, pd.DataFrame([{"cell type": "all", **total}])], ignore_index=True)
    return table


def real_synthetic_pairs(real: SplitData, synthetic: SplitData, per_type: int = 1) -> list:
    """``(title, image, [(annotations, "gt")])`` entries, real then synthetic, for ``per_type`` real images
    of each cell type that have a synthetic image made from them (``synthetic_source`` in its record)."""
    made_from: dict[str, dict] = {}
    for record in synthetic.dataset.images:
        made_from.setdefault(record.get("synthetic_source", ""), record)
    entries = []
    for cell_type in real.cell_types:
        shown = 0
        for record in real.dataset.images:
            if shown >= per_type or real.dataset.cell_type(record["id"]) != cell_type:
                continue
            twin = made_from.get(record["file_name"])
            if twin is None:
                continue
            name = DISPLAY_NAMES.get(cell_type, cell_type)
            entries.append((f"{name} real", real.load_image(record), [(real.dataset.annotations_for(record["id"]), "gt")]))
            entries.append((f"{name} synthetic", synthetic.load_image(twin),
                            [(synthetic.dataset.annotations_for(twin["id"]), "gt")]))
            shown += 1
    return entries
