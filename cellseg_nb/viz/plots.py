"""Figures the notebooks show: outlines over images, per-cell-type distributions, growth curves, learning
curves, PCA scatter and per-model bar charts.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so a notebook shows it
exactly once (as the cell's value) and :meth:`RunArtifacts.save_figure` can store it for the report index.
Cell types are always drawn in the study's order and labelled with their paper spelling; legends sit
outside the panels, right of the figure, so they never cover data.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..celltypes import CELL_TYPES, DISPLAY_NAMES
from .overlay import COLORS, blend, records_outline

#: One colour per cell type, stable across every figure.
TYPE_COLORS: dict[str, str] = dict(zip(CELL_TYPES, ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                                    "#9467bd", "#8c564b", "#e377c2", "#17becf")))


class NotebookFigure(Figure):
    """A Figure that shows itself in Jupyter as PNG without pyplot (no double display, no global state)."""

    def _repr_png_(self) -> bytes:
        import io

        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        return buffer.getvalue()


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = NotebookFigure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _types_in(values: pd.Series) -> list[str]:
    present = set(values.astype(str))
    return [c for c in CELL_TYPES if c in present] + sorted(present - set(CELL_TYPES))


def _label(cell_type: str) -> str:
    return DISPLAY_NAMES.get(cell_type, cell_type)


def _outside_legend(fig: Figure, fontsize: float = 7, ncol: int = 1) -> None:
    """One legend for the whole figure, right of the panels (never over the data); entries of every
    panel, each label once."""
    handles: dict[str, object] = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside right upper", fontsize=fontsize,
                   ncol=ncol, frameon=False)


def outlines_figure(image: np.ndarray, layers: Sequence[tuple[Sequence[dict], str]], *, title: str = "",
                    size: float = 5.0) -> Figure:
    """One image with the outlines of several record lists, e.g. ``[(gt, "gt"), (preds, "prediction")]``
    (colour names from :data:`~cellseg_nb.viz.overlay.COLORS`)."""
    h, w = image.shape[:2]
    picture = blend(image, [(records_outline(recs, h, w), COLORS[color]) for recs, color in layers])
    fig = _figure(size, size * h / w)
    ax = fig.add_subplot()
    ax.imshow(picture, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def example_grid(examples: Sequence[tuple[str, np.ndarray, Sequence[dict]]], *, columns: int = 4,
                 tile: float = 3.0, color: str = "gt") -> Figure:
    """A grid of ``(title, image, records)`` examples with outlines (one per cell type in notebook 01)."""
    if not examples:
        raise ValueError("example_grid needs at least one example")
    columns = min(columns, len(examples))
    rows = math.ceil(len(examples) / columns)
    h, w = examples[0][1].shape[:2]
    fig = _figure(tile * columns, tile * rows * h / w + 0.3 * rows)
    for k, (title, image, records) in enumerate(examples):
        ax = fig.add_subplot(rows, columns, k + 1)
        ih, iw = image.shape[:2]
        ax.imshow(blend(image, [(records_outline(records, ih, iw), COLORS[color])]), interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_axis_off()
    return fig


def side_by_side(pairs: Sequence[tuple[str, np.ndarray]], *, tile: float = 3.2, columns: int | None = None) -> Figure:
    """Plain images with titles in a row (or grid), e.g. real beside synthetic."""
    columns = columns or len(pairs)
    rows = math.ceil(len(pairs) / columns)
    fig = _figure(tile * columns, tile * rows * 0.78)
    for k, (title, image) in enumerate(pairs):
        ax = fig.add_subplot(rows, columns, k + 1)
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_axis_off()
    return fig


def distributions(table: pd.DataFrame, columns: Sequence[str], *, by: str = "cell_type",
                  labels: Sequence[str] | None = None, log: Sequence[str] = ()) -> Figure:
    """One box plot per column, one box per cell type (or any ``by`` column); ``log`` columns on log scale."""
    groups = _types_in(table[by])
    fig = _figure(4.0 * len(columns), 3.4)
    for k, column in enumerate(columns):
        ax = fig.add_subplot(1, len(columns), k + 1)
        data = [table.loc[table[by].astype(str) == g, column].dropna().to_numpy() for g in groups]
        box = ax.boxplot(data, patch_artist=True, showfliers=False)
        ax.set_xticks(range(1, len(groups) + 1), [_label(g) for g in groups], rotation=45, ha="right", fontsize=8)
        for patch, group in zip(box["boxes"], groups):
            patch.set_facecolor(TYPE_COLORS.get(group, "#999999"))
            patch.set_alpha(0.7)
        ax.set_title(labels[k] if labels else column, fontsize=9)
        if column in log:
            ax.set_yscale("log")
    return fig


def learning_curves(history: pd.DataFrame | Sequence[dict], *, x: str = "epoch",
                    group: str | None = None, metrics: Sequence[str] | None = None, smooth: int = 1,
                    exact: Sequence[str] = ("lr",), log: Sequence[str] = (), columns: int = 4) -> Figure:
    """Training history: one panel per metric (default: every numeric column but ``x``), one line per
    ``group`` value (e.g. model variant). ``smooth`` > 1 draws the running mean over that many points
    (the raw points stay, faint), except for ``exact`` metrics (the learning rate: a schedule, not a
    noisy measurement); ``log`` metrics get a log y axis. Panels wrap after ``columns``."""
    frame = pd.DataFrame(history)
    if metrics is None:
        metrics = [c for c in frame.select_dtypes("number").columns if c not in (x, group)]
    metrics = [m for m in metrics if m in frame and frame[m].notna().any()]
    columns = max(1, min(columns, len(metrics)))
    rows = max(1, math.ceil(len(metrics) / columns))
    fig = _figure(3.6 * columns, 3.0 * rows)
    for k, metric in enumerate(metrics):
        ax = fig.add_subplot(rows, columns, k + 1)
        parts = frame.groupby(group, sort=False) if group else [(None, frame)]
        for name, part in parts:
            part = part.dropna(subset=[metric]).sort_values(x)
            label = None if name is None else str(name)
            if smooth > 1 and len(part) > 1 and metric not in exact:
                line, = ax.plot(part[x], part[metric], lw=0.8, alpha=0.3)
                ax.plot(part[x], part[metric].rolling(smooth, min_periods=1).mean(), color=line.get_color(),
                        label=label)
            else:
                ax.plot(part[x], part[metric], marker="o", markersize=3, label=label)
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel(x, fontsize=8)
        if metric in log:
            ax.set_yscale("log")
    if group:
        _outside_legend(fig)
    return fig


def pca_scatter(coords: np.ndarray, groups: Sequence[str], *, hue: Sequence[str] | None = None,
                title: str = "", explained: Sequence[float] | None = None) -> Figure:
    """2-D PCA coordinates; marker shape by ``groups`` (e.g. real / synthetic), colour by ``hue``
    (e.g. cell type; defaults to ``groups``)."""
    coords = np.asarray(coords, dtype=float)
    groups = np.asarray(groups, dtype=str)
    hue = groups if hue is None else np.asarray(hue, dtype=str)
    markers = dict(zip(sorted(set(groups)), "o^sDvP*X"))
    fig = _figure(5.2, 4.2)
    ax = fig.add_subplot()
    for g in sorted(set(groups)):
        for h in _types_in(pd.Series(hue[groups == g])):
            sel = (groups == g) & (hue == h)
            label = f"{_label(h)} ({g})" if not np.array_equal(hue, groups) else g
            ax.scatter(coords[sel, 0], coords[sel, 1], s=16, marker=markers[g], alpha=0.75,
                       color=TYPE_COLORS.get(h), label=label)
    pct = [] if explained is None else [float(v) for v in explained]
    ax.set_xlabel(f"PC1 ({pct[0]:.0%})" if len(pct) > 0 else "PC1", fontsize=8)
    ax.set_ylabel(f"PC2 ({pct[1]:.0%})" if len(pct) > 1 else "PC2", fontsize=8)
    _outside_legend(fig, fontsize=6, ncol=2 if len(ax.collections) > 12 else 1)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def grouped_bars(table: pd.DataFrame, value: str, *, x: str = "cell_type", series: str = "model",
                 ylabel: str | None = None) -> Figure:
    """Bars of ``value`` per ``x`` (cell types in study order) with one bar per ``series`` (model)."""
    xs = _types_in(table[x]) if x == "cell_type" else list(dict.fromkeys(table[x].astype(str)))
    names = list(dict.fromkeys(table[series].astype(str)))
    width = 0.8 / max(len(names), 1)
    fig = _figure(max(5.0, 0.9 * len(xs) * max(1, len(names)) ** 0.5), 3.4)
    ax = fig.add_subplot()
    for k, name in enumerate(names):
        part = table[table[series].astype(str) == name]
        lookup = dict(zip(part[x].astype(str), part[value].astype(float)))
        heights = [lookup.get(v, np.nan) for v in xs]
        ax.bar(np.arange(len(xs)) + (k - (len(names) - 1) / 2) * width, heights, width, label=name)
    ax.set_xticks(range(len(xs)), [_label(v) for v in xs], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(ylabel or value, fontsize=8)
    _outside_legend(fig)
    return fig


def scatter_agreement(table: pd.DataFrame, x: str, y: str, *, by: str = "cell_type",
                      xlabel: str | None = None, ylabel: str | None = None) -> Figure:
    """``y`` against ``x`` with the identity line (e.g. predicted vs annotated cell counts per image)."""
    fig = _figure(4.4, 4.0)
    ax = fig.add_subplot()
    for group in _types_in(table[by]):
        part = table[table[by].astype(str) == group]
        ax.scatter(part[x], part[y], s=14, alpha=0.8, color=TYPE_COLORS.get(group), label=_label(group))
    hi = float(np.nanmax([table[x].max(), table[y].max(), 1]))
    ax.plot([0, hi], [0, hi], color="#888", lw=1, ls="--")
    ax.set_xlabel(xlabel or x, fontsize=8)
    ax.set_ylabel(ylabel or y, fontsize=8)
    _outside_legend(fig, fontsize=6)
    return fig


def image_examples(titles_images: Sequence[tuple[str, np.ndarray, Sequence[tuple[Sequence[dict], str]]]],
                   *, columns: int = 3, tile: float = 3.2) -> Figure:
    """Several images, each with its own outline layers (GT and one model's predictions, say)."""
    columns = min(columns, len(titles_images))
    rows = math.ceil(len(titles_images) / columns)
    fig = _figure(tile * columns, tile * rows * 0.8)
    for k, (title, image, layers) in enumerate(titles_images):
        h, w = image.shape[:2]
        ax = fig.add_subplot(rows, columns, k + 1)
        ax.imshow(blend(image, [(records_outline(r, h, w), COLORS[c]) for r, c in layers]), interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_axis_off()
    return fig

