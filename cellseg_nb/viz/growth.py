"""Growth read-outs per well: cell count or confluence against elapsed time.

LIVECell images a well every 4 h at several positions; a line's wells start at different densities, so
averaging every image of a line at each time point joins different wells into one zigzag. Here each
well is its own faint line (its positions and crops averaged per time point) and the line's median over
wells is bold; with a ``series`` column (``"annotated"`` and each model) every series gets its own colour,
so one sees whether a model's growth curve follows the annotated one.
"""

from __future__ import annotations

import math
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .plots import _figure, _label, _outside_legend, _types_in

#: Colour-blind-safe series colours (Okabe-Ito), the annotations first in black.
SERIES_COLOURS = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442")


def per_well(table: pd.DataFrame, y: str, *, x: str = "elapsed_hours", series: str | None = None) -> pd.DataFrame:
    """Mean ``y`` per (cell type, [series,] well, time point): one row per point of a well's curve."""
    keys = ["cell_type"] + ([series] if series else []) + ["well", x]
    clean = table.dropna(subset=["well", x, y])
    return clean.groupby(keys, sort=True)[y].mean().reset_index()


def growth_per_well(table: pd.DataFrame, y: str, *, x: str = "elapsed_hours", series: str | None = None,
                    ylabel: str | None = None, columns: int = 4) -> Figure:
    """One panel per cell line: each well's ``y`` over time as a faint line, the median over wells bold
    (per ``series`` value when given), drawn through the time points at least two wells share. Wells
    imaged at a single time point show as dots."""
    wells = per_well(table, y, x=x, series=series)
    groups = _types_in(wells["cell_type"]) if len(wells) else []
    names = list(dict.fromkeys(wells[series].astype(str))) if series else [None]
    colour = {name: SERIES_COLOURS[k % len(SERIES_COLOURS)] for k, name in enumerate(names)}
    columns = max(1, min(columns, len(groups)))
    rows = max(1, math.ceil(len(groups) / columns))
    fig = _figure(3.2 * columns, 2.6 * rows)
    for k, group in enumerate(groups):
        ax = fig.add_subplot(rows, columns, k + 1)
        part = wells[wells["cell_type"] == group]
        for name in names:
            mine = part if name is None else part[part[series].astype(str) == name]
            c = colour[name]
            for _, well in mine.groupby("well"):
                ax.plot(well[x], well[y], color=c, alpha=0.4, lw=0.9, marker="o", markersize=2.5,
                        label="one well" if name is None else f"{name}: one well")
            stats = mine.groupby(x)[y].agg(["median", "count"]).sort_index()
            shared = stats[stats["count"] >= 2]  # a median needs two wells at the same time point
            if len(shared) >= 2:
                label = "median over wells" if name is None else f"{name}: median over wells"
                ax.plot(shared.index, shared["median"].to_numpy(), color=c, lw=2.2, label=label)
        n_wells = part["well"].nunique()
        ax.set_title(f"{_label(group)} ({n_wells} well{'s' if n_wells != 1 else ''})", fontsize=9)
        ax.set_xlabel("elapsed time (h)" if x == "elapsed_hours" else x, fontsize=8)
        ax.set_ylabel(ylabel or y, fontsize=8)
        ax.tick_params(labelsize=7)
    _outside_legend(fig)
    return fig
