"""Single-cell-type experiments (notebook 08): does a line gain from its own model and from the extension?

For each selected line, every architecture is trained on that line's original data and on its extended
data (the line's real images plus its synthetic ones from notebook 02), then scored on the line's test
images beside the LIVECell-wide model of the same architecture that notebooks 03 / 04 trained in this run.
LIVECell found single-type training worse than LIVECell-wide training for every line; the seed expected
the extension to close that gap where data size and diversity limit a line, and saw it for SH-SY5Y but
not for SkBr3, which it tied to how well the synthetic densities match each line. :func:`extension_gain`
puts each line's gain next to notebook 02's distance between its real and synthetic density features.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..celltypes import DISPLAY_NAMES, canonical_cell_type
from ..data.splits import SplitData
from ..errors import DataError
from .artifacts import MODELS
from .predictions import predictions_dir
from .training import Variant, plan_variants, single_type_predictions_dir

#: How each row of the comparison was trained.
ROLES = {"original": "single type, original", "extended": "single type, extended", "wide": "LIVECell-wide",
         "wide_extended": "LIVECell-wide, extended"}
METRICS = ("F1", "AP", "AFNR")


def plan_single_type(cell_types: Sequence[str], models: Sequence[str], train_data: Sequence[str] = ("original", "extended"),
                     **kwargs: Any) -> list[Variant]:
    """Every line's variants (``<model>[_synth]_<CellType>``), line by line; ``kwargs`` as
    :func:`~cellseg_nb.pipeline.training.plan_variants` (``per_line`` gives each line its schedule)."""
    if not cell_types:
        raise DataError("cell_types: name at least one cell line for the single-cell-type experiment")
    lines = [canonical_cell_type(t) for t in cell_types]
    return [v for line in lines for v in plan_variants(models, train_data, cell_type=line, **kwargs)]


def wide_checkpoint(run_dir: str | Path, label: str) -> Path:
    """The checkpoint a LIVECell-wide model of this run predicted with: its best by validation, else its
    last (as :func:`~cellseg_nb.pipeline.training.train_variants` chose)."""
    from ..train.checkpoint import latest_checkpoint

    folder = Path(run_dir) / MODELS / label / "checkpoints"
    found = folder / "best.pt" if (folder / "best.pt").is_file() else latest_checkpoint(folder)
    if found is None:
        raise DataError(f"no checkpoint of the LIVECell-wide model {label!r}; run the notebook that trains it "
                        "(03 for U-Nets, 04 for CenterMask) in this run first", file=folder)
    return found


def wide_predictions(run_dir: str | Path, data: SplitData, labels: Sequence[str], *, device: str = "auto"
                     ) -> dict[str, list[dict]]:
    """The LIVECell-wide models' predictions of one line's images: taken from the run's
    ``predictions/<label>.json`` when it covers them (notebooks 03 and 04 predicted the evaluation split
    with the same checkpoint; predicting again would repeat that work), else made with their checkpoints
    and kept under ``predictions/single_type/`` (``<label>_wide_<CellType>.json``) so notebooks 05 and 06
    do not list them as models of their own."""
    from ..train.predict import predict_dataset
    from .predictions import load_run_predictions

    lines = sorted({data.dataset.cell_type(i) for i in data.dataset.image_ids})
    folder = single_type_predictions_dir(run_dir)
    out = {}
    for label in labels:
        made = predictions_dir(run_dir) / f"{label}.json"
        if made.is_file() and made.stat().st_mtime >= wide_checkpoint(run_dir, label).stat().st_mtime:
            kept = load_run_predictions(run_dir, data.dataset, [label])[label]
            if set(data.dataset.image_ids) <= {r["image_id"] for r in kept}:
                out[label] = kept
                continue
        out[label] = predict_dataset(wide_checkpoint(run_dir, label), data.dataset, data.image_root,
                                     folder / f"{label}_wide_{'-'.join(lines)}.json", device=device,
                                     progress=False)
    return out


def default_wide_labels(run_dir: str | Path, plan: Sequence[Variant]) -> list[str]:
    """Per architecture of ``plan``: the run's LIVECell-wide model trained on the original data, else the
    one trained on the extended data; DataError when the run has neither."""
    labels = []
    for arch in dict.fromkeys(v.model for v in plan):
        found = [label for label in (arch, f"{arch}_synth")
                 if (Path(run_dir) / MODELS / label / "checkpoints").is_dir()]
        if not found:
            raise DataError(f"no LIVECell-wide {arch!r} in this run to compare with; run the notebook that trains "
                            "it (03 for U-Nets, 04 for CenterMask) first, or name wide_models",
                            file=Path(run_dir) / MODELS / arch)
        labels.append(found[0])
    return labels


def compare_lines(plan: Sequence[Variant], eval_data: SplitData, run_dir: str | Path, *,
                  wide_labels: Sequence[str] | None = None, device: str = "auto",
                  score_threshold: float = 0.5) -> pd.DataFrame:
    """Score every line's single-type models and the LIVECell-wide ones on that line's images of
    ``eval_data``: the comparison table (:func:`comparison_table`). ``wide_labels`` default to the run's
    models of the same architectures trained on the original data (``unet``, ``centermask_v99``, ...), or
    on the extended data (``unet_synth``) where the run trained only that."""
    from ..eval import evaluate_many
    from ..eval.predictions import load_results
    from .training import line_data

    architectures = {v.label: v.model for v in plan}
    roles = {v.label: v.train_data for v in plan}
    wide_labels = list(wide_labels) if wide_labels is not None else default_wide_labels(run_dir, plan)
    architectures.update({label: label.removesuffix("_synth") for label in wide_labels})
    roles.update({label: "wide_extended" if label.endswith("_synth") else "wide" for label in wide_labels})
    evaluations = {}
    for line in dict.fromkeys(v.cell_type for v in plan):
        data = line_data(eval_data, line)
        predictions = {v.label: load_results(v.predictions, data.dataset, allow_empty=True)
                       for v in plan if v.cell_type == line}
        predictions.update(wide_predictions(run_dir, data, wide_labels, device=device))
        evaluations[line] = evaluate_many(data.dataset, predictions, score_threshold=score_threshold)
    return with_references(comparison_table(evaluations, roles, architectures))


def comparison_table(evaluations: Mapping[str, Mapping[str, Any]], roles: Mapping[str, str],
                     architectures: Mapping[str, str]) -> pd.DataFrame:
    """One row per (line, label): display cell line, architecture, how it was trained, F1, AP (%), AFNR (%),
    images and cells. ``evaluations[line][label]`` are :class:`~cellseg_nb.eval.InstanceEvaluation`;
    ``roles[label]`` a key of :data:`ROLES`; ``architectures[label]`` the registry model name."""
    rows = []
    for line, per_label in evaluations.items():
        for label, ev in per_label.items():
            s = ev.summary
            rows.append({"cell line": DISPLAY_NAMES.get(line, line), "architecture": architectures[label],
                         "training": ROLES[roles[label]], "model": label,
                         "F1": round(float(s["F1"]), 3), "AP (%)": round(100 * float(s["AP"]), 1),
                         "AFNR (%)": round(100 * float(s["AFNR"]), 1),
                         "images": int(s["n_images"]), "cells": int(s["n_cells"])})
    return pd.DataFrame(rows)


def with_references(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison with the published numbers that correspond to its rows: for LIVECell-wide rows the
    seed study's per-line F1 / AP / AFNR of that architecture (its models were trained LIVECell-wide),
    for single-type rows on original data LIVECell's own single-type CenterMask V-99 AP; ``<metric>
    published`` and ``<metric> Δ`` (this run minus it), blank where nobody published the number."""
    from ..eval.published import insert_beside, published_value

    out = table.copy()
    sources = {ROLES["wide"]: "seed", ROLES["original"]: "livecell"}
    for column, metric, percent in (("F1", "F1", None), ("AP (%)", "AP", True), ("AFNR (%)", "AFNR", True)):
        values = []
        for _, row in out.iterrows():
            source = sources.get(row["training"])
            value = None if source is None else published_value(row["architecture"], metric, row["cell line"],
                                                                source=source, percent=percent)
            values.append(np.nan if value is None else value)
        insert_beside(out, column, pd.Series(values, index=out.index, dtype=float), "published", metric)
    return out


def extension_gain(table: pd.DataFrame, distances: pd.DataFrame | None, metric: str = "AP (%)") -> pd.DataFrame:
    """Per line and architecture: ``metric`` of the three trainings, the gain from the extension
    (extended - original, single type) and over LIVECell-wide (extended - wide), beside notebook 02's
    Fréchet distance and MMD² between the line's real and synthetic density features (NaN when 02 did
    not measure that line)."""
    rows = []
    for (line, arch), group in table.groupby(["cell line", "architecture"], sort=False):
        value = {t: group.loc[group["training"] == t, metric] for t in ROLES.values()}
        value = {t: float(v.iloc[0]) if len(v) else np.nan for t, v in value.items()}
        row = {"cell line": line, "architecture": arch, **value,
               "gain from extension": value[ROLES["extended"]] - value[ROLES["original"]],
               "extended - wide": value[ROLES["extended"]] - value[ROLES["wide"]]}
        row.update(_density_distance(distances, line))
        rows.append(row)
    return pd.DataFrame(rows)


def _density_distance(distances: pd.DataFrame | None, display_line: str) -> dict[str, float]:
    if distances is None or distances.empty:
        return {"density Fréchet": np.nan, "density MMD²": np.nan}
    folder = {v: k for k, v in DISPLAY_NAMES.items()}.get(display_line, display_line)
    hit = distances[(distances["features"] == "density") & (distances["cell_type"].isin([folder, display_line]))]
    if hit.empty:
        return {"density Fréchet": np.nan, "density MMD²": np.nan}
    return {"density Fréchet": float(hit["frechet"].iloc[0]), "density MMD²": float(hit["mmd2"].iloc[0])}
