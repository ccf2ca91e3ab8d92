"""The single-cell-type experiment's tables: hand-made scores in, the comparison and gains out."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cellseg_nb.errors import DataError
from cellseg_nb.pipeline.single_type import ROLES, comparison_table, extension_gain, plan_single_type


def _ev(f1: float, ap: float, afnr: float) -> SimpleNamespace:
    return SimpleNamespace(summary={"F1": f1, "AP": ap, "AFNR": afnr, "n_images": 2, "n_cells": 40})


def test_comparison_and_gain_per_line():
    evaluations = {"SHSY5Y": {"unet_SHSY5Y": _ev(0.5, 0.20, 0.6), "unet_synth_SHSY5Y": _ev(0.6, 0.26, 0.5),
                              "unet": _ev(0.55, 0.22, 0.55)},
                   "SkBr3": {"unet_SkBr3": _ev(0.7, 0.40, 0.3), "unet_synth_SkBr3": _ev(0.65, 0.35, 0.35),
                             "unet": _ev(0.72, 0.45, 0.25)}}
    roles = {"unet_SHSY5Y": "original", "unet_synth_SHSY5Y": "extended", "unet_SkBr3": "original",
             "unet_synth_SkBr3": "extended", "unet": "wide"}
    table = comparison_table(evaluations, roles, {k: "unet" for k in roles})
    assert list(table["cell line"]) == ["SH-SY5Y"] * 3 + ["SkBr3"] * 3
    assert table.loc[1, "training"] == ROLES["extended"] and table.loc[1, "AP (%)"] == 26.0
    assert table.loc[5, "AFNR (%)"] == 25.0 and table.loc[0, "F1"] == 0.5
    distances = pd.DataFrame({"features": ["density", "density", "all"], "cell_type": ["SHSY5Y", "SkBr3", "SHSY5Y"],
                              "frechet": [0.1, 0.9, 5.0], "mmd2": [0.02, 0.2, 1.0]})
    gains = extension_gain(table, distances).set_index("cell line")
    assert gains.loc["SH-SY5Y", "gain from extension"] == pytest.approx(6.0)
    assert gains.loc["SH-SY5Y", "extended - wide"] == pytest.approx(4.0)
    assert gains.loc["SkBr3", "gain from extension"] == pytest.approx(-5.0)
    assert gains.loc["SkBr3", "density Fréchet"] == 0.9 and gains.loc["SH-SY5Y", "density MMD²"] == 0.02
    assert np.isnan(extension_gain(table, None).loc[0, "density Fréchet"])


def test_plan_needs_a_line_and_labels_each_variant(tmp_path):
    root = tmp_path / "data"
    (root / "annotations" / "LIVECell").mkdir(parents=True)
    (tmp_path / "run" / "synthetic").mkdir(parents=True)
    with pytest.raises(DataError, match="name at least one cell line"):
        plan_single_type([], ["unet"], data_root=root, run_dir=tmp_path / "run")
    plan = plan_single_type(["SH-SY5Y", "SkBr3"], ["unet"], data_root=root, run_dir=tmp_path / "run")
    assert [v.label for v in plan] == ["unet_SHSY5Y", "unet_synth_SHSY5Y", "unet_SkBr3", "unet_synth_SkBr3"]
    assert [v.config.data.cell_types for v in plan] == [["SHSY5Y"]] * 2 + [["SkBr3"]] * 2


def test_references_are_the_seed_for_wide_rows_and_livecell_for_single_type_rows():
    from cellseg_nb.pipeline.single_type import with_references

    table = pd.DataFrame({"cell line": ["SH-SY5Y", "SH-SY5Y", "SH-SY5Y"], "architecture": ["centermask_v99"] * 3,
                          "training": [ROLES["original"], ROLES["extended"], ROLES["wide"]],
                          "model": ["a", "b", "c"], "F1": [0.5, 0.6, 0.7], "AP (%)": [20.0, 25.0, 30.0],
                          "AFNR (%)": [70.0, 65.0, 60.0]})
    out = with_references(table)
    assert out["AP (%) published"].tolist()[0] == 23.91 and np.isnan(out["AP (%) published"].iloc[1])
    assert out["AP (%) published"].iloc[2] == 27.7 and out["AFNR (%) published"].iloc[2] == 63.2
    assert out["F1 published"].iloc[2] == 0.84 and np.isnan(out["F1 published"].iloc[0])
    assert out["AP (%) Δ"].iloc[2] == pytest.approx(2.3)


def test_default_wide_models_prefer_original_then_extended_data(tmp_path):
    from cellseg_nb.pipeline.single_type import default_wide_labels

    root = tmp_path / "data"
    (root / "annotations" / "LIVECell").mkdir(parents=True)
    plan = plan_single_type(["SkBr3"], ["unet"], ["original"], data_root=root, run_dir=tmp_path / "run")
    with pytest.raises(DataError, match="no LIVECell-wide 'unet' in this run"):
        default_wide_labels(tmp_path / "run", plan)
    (tmp_path / "run" / "models" / "unet_synth" / "checkpoints").mkdir(parents=True)
    assert default_wide_labels(tmp_path / "run", plan) == ["unet_synth"]
    (tmp_path / "run" / "models" / "unet" / "checkpoints").mkdir(parents=True)
    assert default_wide_labels(tmp_path / "run", plan) == ["unet"]
