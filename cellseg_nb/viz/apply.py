"""Plots and tables of notebook 07 (apply a model to your own images): the per-image table as a frame,
prediction overlays, and cell counts and confluence against elapsed time per well when the file names
carry LIVECell's well and time fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .growth import growth_per_well
from .plots import image_examples

#: Columns of the notebook's table, in display order.
TABLE_COLUMNS = ("file_name", "cell_count", "confluence", "mean_area_px", "median_area_px", "cell_type", "well",
                 "elapsed_hours")


def per_image_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The per-image rows of a prediction run as a frame (numbers typed; name fields empty when absent)."""
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        return pd.DataFrame(columns=list(TABLE_COLUMNS))
    frame["elapsed_hours"] = pd.to_numeric(frame.get("elapsed_hours"), errors="coerce")
    for col in ("cell_count", "confluence", "mean_area_px", "median_area_px"):
        frame[col] = pd.to_numeric(frame[col])
    return frame[[c for c in TABLE_COLUMNS if c in frame.columns]]


def has_time_series(frame: pd.DataFrame) -> bool:
    """True when some well was imaged at two or more time points (names carry well and elapsed time)."""
    named = frame.dropna(subset=["elapsed_hours"])
    named = named[named["well"].astype(str) != ""]
    return bool(len(named)) and bool((named.groupby(["cell_type", "well"])["elapsed_hours"].nunique() > 1).any())


def growth_figures(frame: pd.DataFrame) -> dict[str, Figure]:
    """Cell count and confluence against elapsed time, one panel per cell line, one faint line per well
    (mean over the well's sites at each time) and the median over wells bold
    (:func:`cellseg_nb.viz.growth.growth_per_well`). Empty when no well has a time series."""
    if not has_time_series(frame):
        return {}
    named = frame.dropna(subset=["elapsed_hours"])
    named = named[named["well"].astype(str) != ""].assign(confluence_pct=lambda f: 100 * f["confluence"])
    return {"counts": growth_per_well(named, "cell_count", ylabel="cells per image"),
            "confluence": growth_per_well(named, "confluence_pct", ylabel="confluence (%)")}


def overlay_examples(records: Sequence[dict], images: Sequence[tuple[str, Any]], read: Callable[[Any], np.ndarray],
                     *, n_images: int = 4, seed: int = 0, min_score: float = 0.0,
                     columns: int = 2) -> Figure:
    """Predicted outlines on ``n_images`` images drawn at random (``seed``) from ``images`` =
    ``[(key, what read() takes)]``; each title gives the file and its count at ``min_score``."""
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(images), size=min(n_images, len(images)), replace=False).tolist())
    by_key: dict[Any, list[dict]] = {}
    for rec in records:
        if rec["score"] >= min_score:
            by_key.setdefault(rec["image_id"], []).append(rec)
    tiles = []
    for i in chosen:
        key, item = images[i]
        kept = by_key.get(key, [])
        tiles.append((f"{Path(str(key)).name}: {len(kept)} cells", read(item), [(kept, "prediction")]))
    return image_examples(tiles, columns=columns)
