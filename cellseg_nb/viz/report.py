"""Report-ready tables from evaluations: the study table flattened for CSV and the index, taxonomy per
model, worst images, count agreement and the growth read-out (count and confluence against time,
ground truth beside each model). Notebook 05 shows them; the report index renders the saved CSVs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import pandas as pd

from ..celltypes import CELL_TYPES, DISPLAY_NAMES, parse_file_name
from ..data.coco import CocoDataset
from ..eval.tables import PERCENT_METRICS, glossary_line

if TYPE_CHECKING:
    from ..data.splits import SplitData


class ReportTable:
    """A table as notebooks show it: no index column, percent columns with one decimal and other
    fractions with three, wide tables scrolling sideways, and a glossary line for the metric names."""

    def __init__(self, table: pd.DataFrame, caption: str = "") -> None:
        self.table = table.reset_index(drop=True)
        self.caption = caption

    def _repr_html_(self) -> str:
        import html

        formats = {}
        for column in self.table.columns:
            if pd.api.types.is_float_dtype(self.table[column]):
                formats[column] = "{:.1f}" if str(column).endswith("(%)") else "{:.3f}"
        styler = self.table.style.hide(axis="index").format(formats, na_rep="–")
        notes = " ".join(filter(None, [self.caption, glossary_line([str(c) for c in self.table.columns])]))
        note = f'<p style="font-size:85%;color:#555;max-width:60em">{html.escape(notes)}</p>' if notes else ""
        return f'<div style="overflow-x:auto;max-width:100%">{styler.to_html()}</div>{note}'

    def __repr__(self) -> str:
        return self.table.to_string(index=False)


def show(table: pd.DataFrame, caption: str = "") -> ReportTable:
    """Wrap a table for display in a notebook (see :class:`ReportTable`)."""
    return ReportTable(table, caption)


def flat_study_table(table: pd.DataFrame, *, percent: bool = True, decimals: int = 3) -> pd.DataFrame:
    """A (model, metric) study table as flat columns ``<model> <metric>`` with the row label as a column;
    AP-like metrics in percent (one decimal), others rounded to ``decimals``."""
    out = pd.DataFrame({"set": table.index.astype(str)})
    for model, metric in table.columns:
        values = table[(model, metric)].to_numpy(dtype=float)
        if percent and metric in PERCENT_METRICS:
            values = np.round(100 * values, 1)
            label = f"{model} {metric} (%)"
        else:
            values = np.round(values, decimals)
            label = f"{model} {metric}"
        out[label] = values
    metrics = out.columns[1:]
    return out[out[metrics].notna().any(axis=1)].reset_index(drop=True) if len(metrics) else out


def taxonomy_by(evaluations: Mapping[str, object], by: Sequence[str] = ("cell_type",)) -> pd.DataFrame:
    """Taxonomy counts of every model, one row per (model, group); cell types in display spelling."""
    frames = []
    for model, ev in evaluations.items():
        table = ev.taxonomy_table(tuple(by))
        if table.empty:
            continue
        table = table.reset_index()
        table.columns.name = None
        if "cell_type" in table:
            table["cell_type"] = table["cell_type"].map(lambda c: DISPLAY_NAMES.get(c, c))
        table.insert(0, "model", model)
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def taxonomy_fractions(table: pd.DataFrame) -> pd.DataFrame:
    """Cell classes as fractions of all cells, prediction classes as fractions of all predictions, with
    the totals in ``cells`` and ``predictions``."""
    out = table.copy()
    cell_cols = [c for c in out.columns if c.startswith("cells_")]
    pred_cols = [c for c in out.columns if c.startswith("preds_")]
    n_cells = out[[c for c in cell_cols if c != "cells_boundary"]].sum(axis=1)
    n_preds = out[pred_cols].sum(axis=1)
    for cols, total in ((cell_cols, n_cells), (pred_cols, n_preds)):
        for col in cols:
            out[col] = (out[col] / total.replace(0, np.nan)).round(3)
    out["cells"], out["predictions"] = n_cells, n_preds
    return out


def worst_images(evaluations: Mapping[str, object], n: int = 5, metric: str = "F1") -> pd.DataFrame:
    """The ``n`` images with the lowest ``metric`` per model (images with cells only)."""
    rows = []
    for model, ev in evaluations.items():
        table = ev.per_image[ev.per_image["n_cells"] > 0].sort_values([metric, "n_cells"], ascending=[True, False])
        for _, r in table.head(n).iterrows():
            rows.append({"model": model, "file_name": r["file_name"], "image_id": r["image_id"],
                         "cell type": DISPLAY_NAMES.get(r["cell_type"], r["cell_type"]), metric: r[metric],
                         "cells": r["n_cells"], "TP": r["TP"], "FP": r["FP"], "FN": r["FN"]})
    return pd.DataFrame(rows)


def metrics_long(evaluations: Mapping[str, object], metrics: Sequence[str] = ("F1", "AP", "AFNR")) -> pd.DataFrame:
    """One row per (model, cell type) with the given metrics (fractions), for bar charts."""
    rows = []
    for model, ev in evaluations.items():
        for cell_type, summary in ev.per_cell_type.items():
            rows.append({"model": model, "cell_type": cell_type, **{m: summary.get(m, np.nan) for m in metrics}})
    return pd.DataFrame(rows)


def per_image_counts(evaluations: Mapping[str, object]) -> pd.DataFrame:
    """Annotated and predicted cell counts per image and model (for count-agreement scatter plots)."""
    frames = [ev.per_image[["image_id", "cell_type", "n_cells", "n_predictions"]].assign(model=model)
              for model, ev in evaluations.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def count_agreement(evaluations: Mapping[str, object]) -> pd.DataFrame:
    """Per model and cell type: R² and mean absolute error of predicted vs annotated cell counts."""
    rows = []
    for model, ev in evaluations.items():
        sets = [("LIVECell", ev.summary)] + [(DISPLAY_NAMES.get(c, c), s) for c, s in ev.per_cell_type.items()]
        for name, summary in sets:
            rows.append({"model": model, "set": name, "count R2": round(float(summary["count_R2"]), 3),
                         "count MAE": round(float(summary["count_MAE"]), 2),
                         "images": int(summary["n_images"])})
    return pd.DataFrame(rows)


def growth_table(gt: CocoDataset, evaluations: Mapping[str, object]) -> pd.DataFrame:
    """Long table of cell count and confluence per image for the ground truth (``source`` = ``GT``) and
    each model, with cell type, well and elapsed hours: the growth read-out of a time-lapse experiment.

    Counts are annotated cells / kept predictions; confluence is covered pixels over image pixels (GT:
    annotated union; model: predicted union, from the evaluation's pixel counts)."""
    meta = {}
    for img in gt.images:
        info = parse_file_name(img["file_name"])
        meta[img["id"]] = (info.cell_type, info.well, info.elapsed_hours, img["width"] * img["height"])
    rows, gt_done = [], False
    for model, ev in evaluations.items():
        for _, r in ev.per_image.iterrows():
            cell_type, well, hours, pixels = meta[r["image_id"]]
            base = {"image_id": r["image_id"], "cell_type": cell_type, "well": well, "elapsed_hours": hours}
            if not gt_done:
                rows.append({**base, "source": "GT", "count": r["n_cells"],
                             "confluence": (r["pixel_TP"] + r["pixel_FN"]) / pixels})
            rows.append({**base, "source": model, "count": r["n_predictions"],
                         "confluence": (r["pixel_TP"] + r["pixel_FP"]) / pixels})
        gt_done = True
    table = pd.DataFrame(rows)
    if not table.empty:
        order = {c: k for k, c in enumerate(CELL_TYPES)}
        table = table.sort_values(["cell_type", "well", "elapsed_hours"], key=lambda s: s.map(order) if s.name == "cell_type" else s)
    return table.reset_index(drop=True)


def growth_summary(growth: pd.DataFrame, by: Sequence[str] = ("cell_type", "well"), *,
                   min_time_points: int | None = None) -> pd.DataFrame:
    """Per cell type (and well) and source: the slope of count and confluence against elapsed time (per
    24 h), a one-number growth rate to compare each model with the ground truth. Groups with fewer than
    ``min_time_points`` distinct times are left out (default: 2 when grouping by well, where a single
    image says nothing about growth; 1 otherwise, with NaN slopes for one time point)."""
    if min_time_points is None:
        min_time_points = 2 if "well" in by else 1
    rows = []
    for keys, part in growth.groupby([*by, "source"], sort=False):
        hours = part["elapsed_hours"].to_numpy(dtype=float)
        if len(np.unique(hours)) < min_time_points:
            continue
        row = dict(zip(by, keys[:-1]))
        if "cell_type" in row:
            row["cell_type"] = DISPLAY_NAMES.get(row["cell_type"], row["cell_type"])
        row.update({"source": keys[-1], "images": len(part)})
        for col in ("count", "confluence"):
            values = part[col].to_numpy(dtype=float)
            slope = np.polyfit(hours, values, 1)[0] * 24 if len(np.unique(hours)) > 1 else np.nan
            row[f"{col} per 24 h"] = round(float(slope), 4 if col == "confluence" else 2)
        rows.append(row)
    return pd.DataFrame(rows, columns=[*by, "source", "images", "count per 24 h", "confluence per 24 h"])


def model_scores(evaluations: Mapping[str, object],
                 metrics: Sequence[str] = ("F1", "AP", "AFNR", "F1_best", "best_threshold")) -> pd.DataFrame:
    """One row per model with its overall ``metrics`` (AP-like in percent, as the study table), plus the
    number of images, cells and predictions: the quick look of the training notebooks (05 has the rest).
    ``F1_best`` is the best F1 over score thresholds and ``best_threshold`` the score that reaches it."""
    rows = []
    for model, ev in evaluations.items():
        row = {"model": model}
        for m in metrics:
            value = float(ev.summary.get(m, np.nan))
            percent = m in PERCENT_METRICS
            row[f"{m} (%)" if percent else m] = round(100 * value, 1) if percent else round(value, 3)
        row.update({"images": int(ev.summary["n_images"]), "cells": int(ev.summary["n_cells"]),
                    "predictions": int(ev.summary["n_predictions"])})
        rows.append(row)
    return pd.DataFrame(rows)


def prediction_examples(data: "SplitData", predictions: Mapping[str, Sequence[dict]], *, n_images: int = 3,
                        seed: int = 0, score_threshold: float | Mapping[str, float] = 0.5,
                        ) -> list[tuple[str, np.ndarray, list]]:
    """Tiles for :func:`cellseg_nb.viz.plots.image_examples`: ``n_images`` images spread over the cell
    types (chosen with ``seed``), each once per model (row = image, column = model) with the annotations
    (``gt``) and the model's predictions scoring at least ``score_threshold`` (``prediction``): one number,
    or one per model (e.g. each model's best-F1 threshold; a missing or NaN entry means 0.5)."""
    from ..data.splits import pick_images

    def threshold(model: str) -> float:
        value = score_threshold.get(model, 0.5) if isinstance(score_threshold, Mapping) else score_threshold
        return 0.5 if value is None or not np.isfinite(float(value)) else float(value)

    chosen = pick_images(data.dataset, max(1, n_images), seed=seed)
    order = {c: k for k, c in enumerate(CELL_TYPES)}
    ids = sorted(chosen.image_ids, key=lambda i: (order.get(chosen.cell_type(i), len(order)), str(i)))
    wanted = set(ids)
    by_image: dict = {}
    for model, records in predictions.items():
        cut = threshold(model)
        for r in records:
            if r["image_id"] in wanted and r.get("score", 1.0) >= cut:
                by_image.setdefault((model, r["image_id"]), []).append(r)
    tiles = []
    for image_id in ids:
        record = data.dataset.image(image_id)
        image, gt = data.load_image(record), data.dataset.annotations_for(image_id)
        name = DISPLAY_NAMES.get(data.dataset.cell_type(image_id), data.dataset.cell_type(image_id))
        for model in predictions:
            kept = by_image.get((model, image_id), [])
            tiles.append((f"{model} (score >= {threshold(model):.2f})\n{name}: {len(kept)} predicted, {len(gt)} cells",
                          image, [(gt, "gt"), (kept, "prediction")]))
    return tiles
