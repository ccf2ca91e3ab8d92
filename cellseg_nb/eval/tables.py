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
#: Metrics shown as percentages everywhere (tables, reports, the browser); the rest as fractions with
#: three decimals. The one definition: viz.report and viz.browser import it.
PERCENT_METRICS: frozenset[str] = frozenset({"AP", "AP50", "AP75", "APs", "APm", "APl", "AR100", "AR500",
                                             "AR2000", "AFNR", "mSA", "SA50"})

#: What each metric or column name means, shown under tables and as tooltips in the browser.
GLOSSARY: dict[str, str] = {
    "F1": "harmonic mean of precision and recall, matching at IoU 0.5 (predictions above the score threshold)",
    "F1_best": "best F1 over all score thresholds",
    "best_threshold": "the score threshold that reaches F1_best",
    "AP": "COCO average precision over IoU 0.50:0.95, up to 2,000 detections per image",
    "AP50": "average precision at IoU 0.5", "AP75": "average precision at IoU 0.75",
    "AFNR": "average false-negative rate: share of cells missed, averaged over IoU 0.50:0.95 (lower is better)",
    "precision": "TP / (TP + FP): share of predictions that match a cell",
    "recall": "TP / (TP + FN): share of cells found",
    "TP": "predictions matched to a cell at IoU >= 0.5", "FP": "predictions matching no cell",
    "FN": "cells no prediction matched",
    "mSA": "mean segmentation accuracy: TP / (TP + FP + FN) averaged over IoU 0.50:0.95",
    "SA50": "segmentation accuracy TP / (TP + FP + FN) at IoU 0.5",
    "n_cells": "annotated cells", "n_predictions": "predictions scoring at least the threshold",
    "cells_matched": "cells matched at IoU 0.5",
    "cells_merged": "cells covered by a prediction that covers two or more cells",
    "cells_split": "cells cut into two or more predicted fragments",
    "cells_missed": "cells neither matched, merged nor split",
    "cells_boundary": "cells matched at IoU 0.5 but not at 0.75 (found, outline poor)",
    "preds_matched": "predictions matched at IoU 0.5",
    "preds_merged": "predictions covering two or more cells", "preds_split": "fragments of a split cell",
    "preds_spurious": "predictions of nothing in particular",
    "pixel_IoU": "foreground pixels: intersection over union of all cells and all predictions",
    "count R2": "R² of predicted against annotated cell counts per image",
    "count MAE": "mean absolute error of the cell count per image",
}


def metric_label(metric: str) -> str:
    """Column label of a metric: ``AP (%)`` for percent metrics, the name otherwise."""
    return f"{metric} (%)" if metric in PERCENT_METRICS else metric


def format_metric(metric: str, value: object) -> str:
    """A metric's value as the study prints it: percent with one decimal for AP-like metrics, three
    decimals for other fractions, integers as they are, ``-`` for missing."""
    if value is None or isinstance(value, str):
        return "-" if value is None else value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    value = float(value)
    if not np.isfinite(value):
        return "-"
    return f"{100 * value:.1f}" if metric in PERCENT_METRICS else f"{value:.3f}"


def glossary_line(columns: Sequence[str]) -> str:
    """One line explaining the metric names among ``columns`` (a table's caption)."""
    seen: dict[str, str] = {}
    for column in columns:
        name = str(column).replace(" (%)", "")
        for key in (name, name.rsplit(" ", 1)[-1]):  # "count R2", or "unet F1" -> "F1"
            if key in GLOSSARY:
                seen.setdefault(key, GLOSSARY[key])
                break
    return "; ".join(f"{k}: {v}" for k, v in seen.items())


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
    decimal, F1 / precision / recall with three decimals (as the study prints them); missing values as ``-``."""
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
    return f"{100 * value:.1f}" if as_percent else f"{value:.3f}"


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
