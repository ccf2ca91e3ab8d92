"""The published numbers file: values as the sources print them, and the seed's columns beside a run's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellseg_nb.eval.published import published_numbers, published_value, with_published


def test_values_are_the_published_ones():
    # spot checks against shared/specs/study.md and LIVECell's model/README.md, typed in by hand
    assert published_value("centermask_v99", "AP") == 48.5
    assert published_value("centermask_lite_v19_slim_dw", "AFNR", "SH-SY5Y") == 75.2
    assert published_value("centermask_lite_v19_slim_dw", "F1", "SkBr3") == 0.9025
    assert published_value("unet_synth", "F1", "BT474") == 0.0123
    assert published_value("ensemble_synth", "F1") == 0.6052
    assert published_value("centermask_v99", "AP", "SKOV3", source="livecell") == 49.39
    assert published_value("centermask_v99", "box_AP", source="livecell") == 48.45
    assert published_value("centermask_v99", "AP", percent=False) == pytest.approx(0.485)
    assert published_value("unet", "AP") is None  # the study reported only F1 for the U-Nets
    table = published_numbers()
    assert set(table["source"]) == {"seed", "livecell"} and table["reference"].str.len().min() > 20
    # 9 sets x (2 CenterMask x 3 metrics + 4 U-Net F1) from the seed, 9 x 2 from LIVECell
    assert len(published_numbers("seed")) == 90 and len(published_numbers("livecell")) == 18


def test_with_published_adds_the_seed_and_the_difference_where_reported():
    run = pd.DataFrame({"model": ["centermask_v99", "unet", "baseline"], "F1": [0.9, 0.6, 0.5],
                        "AP (%)": [50.0, 40.0, 30.0], "AFNR (%)": [40.0, 50.0, 60.0]})
    out = with_published(run)
    assert list(out.columns) == ["model", "F1", "F1 seed", "F1 Δ", "AP (%)", "AP (%) seed", "AP (%) Δ",
                                 "AFNR (%)", "AFNR (%) seed", "AFNR (%) Δ"]
    assert out["F1 seed"].tolist()[:2] == [0.95, 0.5873] and np.isnan(out["F1 seed"].iloc[2])
    assert out["AP (%) Δ"].iloc[0] == pytest.approx(1.5) and np.isnan(out["AP (%) seed"].iloc[1])
    assert out["AFNR (%) Δ"].iloc[0] == pytest.approx(-4.8)


def test_with_published_matches_cell_types_in_either_spelling():
    run = pd.DataFrame({"model": ["centermask_lite_v19_slim_dw"] * 3, "cell_type": ["BV-2", "SHSY5Y", "LIVECell"],
                        "AP (%)": [50.0, 20.0, 30.0]})
    out = with_published(run, cell_type_column="cell_type")
    assert out["AP (%) seed"].tolist() == [46.7, 15.9, 34.7]
    untouched = with_published(pd.DataFrame({"model": ["x"], "AP (%)": [1.0]}))
    assert list(untouched.columns) == ["model", "AP (%)"]  # nothing reported: no empty columns


def test_flat_study_table_gets_the_seed_per_set():
    from cellseg_nb.eval.published import with_published_study

    flat = pd.DataFrame({"set": ["LIVECell", "A172", "SH-SY5Y"], "centermask_v99 F1": [0.9, 0.9, 0.8],
                         "centermask_v99 AP (%)": [50.0, 40.0, 30.0], "classical F1": [0.6, 0.6, 0.6]})
    out = with_published_study(flat)
    assert list(out.columns) == ["set", "centermask_v99 F1", "centermask_v99 F1 seed", "centermask_v99 F1 Δ",
                                 "centermask_v99 AP (%)", "centermask_v99 AP (%) seed", "centermask_v99 AP (%) Δ",
                                 "classical F1"]
    assert out["centermask_v99 AP (%) seed"].tolist() == [48.5, 39.4, 27.7]
    assert out["centermask_v99 F1 Δ"].tolist() == pytest.approx([-0.05, -0.05, -0.04])
