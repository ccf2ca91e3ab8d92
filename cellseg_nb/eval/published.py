"""Published numbers to show beside a run's: the seed study's and LIVECell's, from one data file.

``published_numbers.csv`` (next to this module) holds every number with its source: the seed study's
CenterMask table (F1, AP, AFNR per cell type for V-19-slim-DW and V-99) and U-Net F1 table, and
LIVECell's anchor-free CenterMask V-99 mask and box AP (LIVECell-wide and per cell type). Values are kept
as published: AP and AFNR in percent, F1 as a fraction. Rows name the model and training data the way a
run labels its variants (``unet`` on ``extended`` data is the run's ``unet_synth``), and the cell type in
folder spelling, ``all`` for LIVECell-wide.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..celltypes import DISPLAY_NAMES, canonical_cell_type

DATA_FILE = Path(__file__).with_name("published_numbers.csv")
SOURCES = {"seed": "the seed study", "livecell": "LIVECell (model zoo)"}


@lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    return pd.read_csv(DATA_FILE, dtype={"value": float}, keep_default_na=False)


def published_numbers(source: str | None = None) -> pd.DataFrame:
    """Every published number (one row each), optionally of one ``source`` (``seed`` or ``livecell``);
    ``label`` is the run's name for the variant (``<model>`` or ``<model>_synth``)."""
    table = _table().copy()
    if source is not None:
        if source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
        table = table[table["source"] == source]
    table["label"] = np.where(table["train_data"] == "extended", table["model"] + "_synth", table["model"])
    return table.reset_index(drop=True)


def published_value(label: str, metric: str, cell_type: str | None = "all", *, source: str = "seed",
                    percent: bool | None = None) -> float | None:
    """One published number, or None where the source did not report it. ``percent`` converts: True
    gives AP-like values in percent, False as fractions, None as published."""
    table = published_numbers(source)
    key = "all" if cell_type in ("all", "LIVECell", None) else canonical_cell_type(cell_type)
    hit = table[(table["label"] == label) & (table["metric"] == metric) & (table["cell_type"] == key)]
    if hit.empty:
        return None
    value, unit = float(hit["value"].iloc[0]), hit["unit"].iloc[0]
    if percent is True and unit == "fraction":
        return 100 * value
    if percent is False and unit == "percent":
        return value / 100
    return value


def _metric_of(column: str) -> tuple[str, bool]:
    """``"AP (%)"`` -> ("AP", True); ``"F1"`` -> ("F1", False)."""
    name = column.strip()
    if name.endswith("(%)"):
        return name[:-3].strip(), True
    return name, False


def insert_beside(table: pd.DataFrame, column: str, values: pd.Series, name: str, metric: str) -> None:
    """In place: after ``column``, ``<column> <name>`` (the published ``values``) and ``<column> Δ`` (this
    run minus them, three decimals for F1, one for percentages); nothing when no value was published."""
    if not values.notna().any():
        return
    at = table.columns.get_loc(column) + 1
    table.insert(at, f"{column} {name}", values)
    delta = pd.to_numeric(table[column], errors="coerce") - values
    table.insert(at + 1, f"{column} Δ", delta.round(3 if metric == "F1" else 1))


def with_published(table: pd.DataFrame, metrics: Sequence[str] = ("F1", "AP (%)", "AFNR (%)"), *,
                   model_column: str = "model", cell_type_column: str | None = None,
                   source: str = "seed") -> pd.DataFrame:
    """``table`` with, after each of ``metrics`` that the source reported for a row, the published value
    (``"<metric> <source>"``) and this run minus it (``"<metric> Δ"``); rows the source never reported stay
    blank. Metric columns ending in ``(%)`` are compared in percent, others as published. Rows are
    matched by model label and, with ``cell_type_column``, by cell type (folder or display spelling,
    ``all`` / ``LIVECell`` for the whole set)."""
    out = table.copy()
    display_to_folder = {v: k for k, v in DISPLAY_NAMES.items()}
    for column in metrics:
        if column not in out:
            continue
        metric, percent = _metric_of(column)
        published = []
        for _, row in out.iterrows():
            cell = "all" if cell_type_column is None else str(row[cell_type_column])
            cell = display_to_folder.get(cell, cell)
            published.append(published_value(str(row[model_column]), metric, cell, source=source,
                                              percent=percent if metric != "F1" else None))
        values = pd.Series([np.nan if v is None else v for v in published], index=out.index, dtype=float)
        insert_beside(out, column, values, source, metric)
    return out


def with_published_study(table: pd.DataFrame, *, set_column: str = "set", source: str = "seed") -> pd.DataFrame:
    """A flat study table (one row per set: ``LIVECell`` and each cell line; columns ``<model> <metric>``
    or ``<model> <metric> (%)``, as :func:`cellseg_nb.viz.report.flat_study_table` builds it) with, after
    each model column the source reported for some row, ``<column> <source>`` and ``<column> Δ``."""
    out = table.copy()
    display_to_folder = {v: k for k, v in DISPLAY_NAMES.items()}
    for column in list(table.columns):
        if column == set_column or " " not in str(column):
            continue
        label, metric_column = str(column).split(" ", 1)
        metric, percent = _metric_of(metric_column)
        values = pd.Series([published_value(label, metric, display_to_folder.get(str(s), str(s)), source=source,
                                            percent=percent if metric != "F1" else None)
                            for s in out[set_column]], index=out.index, dtype=float)
        insert_beside(out, column, values, source, metric)
    return out
