"""Result tables in the study's layout and their text / HTML / Markdown rendering.

The study's table has one row for LIVECell-wide results and one per cell line in display spelling
(A172, BT-474, BV-2, Huh7, MCF7, SH-SY5Y, SkBr3, SK-OV-3), and per model the columns F1, AP and AFNR.
:func:`study_table` builds it as a DataFrame of fractions with (model, metric) columns;
:func:`format_study_table` renders it with AP and AFNR in percent and F1 as a fraction, as the study
prints them.
"""

from __future__ import annotations

from typing import Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from ..celltypes import CELL_TYPES, DISPLAY_NAMES
from .instances import InstanceEvaluation

#: Row labels of the study's table.
STUDY_ROWS: tuple[str, ...] = ("LIVECell",) + tuple(DISPLAY_NAMES[ct] for ct in CELL_TYPES)
#: Metrics shown as percentages by the formatter (the rest as fractions).
PERCENT_METRICS: frozenset[str] = frozenset({"AP", "AP50", "AP75", "APs", "APm", "APl", "AR100", "AR500",
                                             "AR2000", "AFNR", "mSA", "SA50"})


def study_table(evaluations: Mapping[str, InstanceEvaluation],
                metrics: Sequence[str] = ("F1", "AP", "AFNR")) -> pd.DataFrame:
    """The study's table for several models side by side (values are fractions; NaN where absent).

    Rows: ``LIVECell`` (the overall summary) and the eight cell lines in display spelling; columns: a
    (model, metric) MultiIndex in the order given.
    """
    columns, data = [], []
    for model, ev in evaluations.items():
        for metric in metrics:
            columns.append((model, metric))
            values = [ev.summary.get(metric, np.nan)]
            values += [ev.per_cell_type.get(ct, {}).get(metric, np.nan) for ct in CELL_TYPES]
            data.append(values)
    frame = pd.DataFrame(np.array(data, dtype=np.float64).T if data else np.zeros((len(STUDY_ROWS), 0)),
                         index=list(STUDY_ROWS),
                         columns=pd.MultiIndex.from_tuples(columns, names=["model", "metric"]))
    frame.index.name = "set"
    return frame


def format_study_table(table: pd.DataFrame, fmt: Literal["text", "html", "markdown"] = "text", *,
                       percent: bool = True) -> str:
    """Render a :func:`study_table` (or any (model, metric) table): AP-like metrics in percent with one
    decimal, F1 / precision / recall with two decimals; missing values as ``-``."""
    shown = table.copy().astype(object)
    for col in table.columns:
        metric = col[-1] if isinstance(col, tuple) else col
        as_percent = percent and metric in PERCENT_METRICS
        shown[col] = [_cell(v, as_percent) for v in table[col]]
    if fmt == "text":
        return shown.to_string()
    if fmt == "html":
        return shown.to_html(escape=True, na_rep="-")
    if fmt == "markdown":
        return _markdown(shown)
    raise ValueError(f"fmt must be 'text', 'html' or 'markdown', got {fmt!r}")


def _cell(value: float, as_percent: bool) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{100 * value:.1f}" if as_percent else f"{value:.2f}"


def _markdown(shown: pd.DataFrame) -> str:
    headers = [" ".join(c) if isinstance(c, tuple) else str(c) for c in shown.columns]
    lines = ["| " + " | ".join([shown.index.name or ""] + headers) + " |",
             "|" + "---|" * (len(headers) + 1)]
    for name, row in shown.iterrows():
        lines.append("| " + " | ".join([str(name)] + [str(v) for v in row]) + " |")
    return "\n".join(lines)


def summary_table(evaluation: InstanceEvaluation, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """One model's summaries per cell type (display spelling, study order) and ``LIVECell`` overall."""
    from .instances import SUMMARY_KEYS

    metrics = list(metrics or SUMMARY_KEYS)
    rows = {"LIVECell": evaluation.summary}
    for ct, summary in evaluation.per_cell_type.items():
        rows[DISPLAY_NAMES.get(ct, ct)] = summary
    frame = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=metrics)
    frame.index.name = "set"
    return frame
