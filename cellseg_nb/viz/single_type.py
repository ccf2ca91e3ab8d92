"""Figures of the single-cell-type experiment (notebook 08)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..celltypes import DISPLAY_NAMES
from .plots import TYPE_COLORS, _figure, _outside_legend

_MARKERS = ("o", "s", "^", "D", "v", "P")


def gain_vs_distance(gains: pd.DataFrame, *, distance: str = "density Fréchet",
                     gain: str = "gain from extension", metric: str = "AP (%)") -> Figure:
    """Each line's gain from the extension (single type, extended - original) against how far its
    synthetic density features lie from the real ones (notebook 02): one point per line and architecture,
    coloured by line, a marker per architecture, the zero-gain line dashed. Lines 02 did not measure sit
    at the left edge as hollow points."""
    fig = _figure(5.6, 3.8)
    ax = fig.add_subplot()
    folder = {v: k for k, v in DISPLAY_NAMES.items()}
    known = gains[distance].dropna()
    left = float(known.min()) if len(known) else 0.0
    span = float(known.max() - known.min()) if len(known) > 1 else 1.0
    for k, (arch, part) in enumerate(gains.groupby("architecture", sort=False)):
        marker = _MARKERS[k % len(_MARKERS)]
        for _, row in part.iterrows():
            colour = TYPE_COLORS.get(folder.get(row["cell line"], row["cell line"]), "#444")
            x, measured = row[distance], np.isfinite(row[distance])
            x = x if measured else left - 0.08 * span
            ax.scatter([x], [row[gain]], s=46, marker=marker, edgecolors=colour,
                       facecolors=colour if measured else "none", label=f"{row['cell line']} ({arch})")
            ax.annotate(row["cell line"], (x, row[gain]), textcoords="offset points", xytext=(5, 4), fontsize=7)
    ax.axhline(0.0, color="#888", lw=1, ls="--")
    ax.set_xlabel(f"real vs synthetic density features: {distance.split(' ', 1)[1]} (notebook 02)", fontsize=8)
    ax.set_ylabel(f"{metric}: single type extended - original", fontsize=8)
    _outside_legend(fig, fontsize=6)
    return fig
