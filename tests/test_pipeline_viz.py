"""Plot helpers and run inputs used by the notebooks: figures carry the right data, subsets are balanced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cellseg_nb.data.coco import dataset_from_dict
from cellseg_nb.data.splits import pick_images
from cellseg_nb.viz import plots
from cellseg_nb.viz.overlay import blend, mask_outline, outline_image, record_mask


def test_outline_of_square_is_its_border():
    mask = np.zeros((8, 8), dtype=bool)
    mask[2:6, 1:7] = True
    outline = mask_outline(mask)
    assert outline.sum() == 2 * 6 + 2 * 2  # 4 x 6 rectangle: perimeter pixels
    assert not outline[3:5, 2:6].any()
    labels = np.zeros((8, 8), dtype=np.int32)
    labels[2:6, 1:7] = 3
    assert np.array_equal(outline_image(labels), outline)


def test_record_mask_matches_polygon_and_blend_paints_only_the_layer():
    square = {"segmentation": [[1.0, 1.0, 4.0, 1.0, 4.0, 4.0, 1.0, 4.0]]}
    mask = record_mask(square, 6, 6)
    assert mask.sum() == 9 and mask[1:4, 1:4].all()
    image = np.full((6, 6), 100, dtype=np.uint8)
    rgb = blend(image, [(mask, (255, 0, 0))])
    assert (rgb[mask] == (255, 0, 0)).all() and (rgb[~mask] == 100).all()


def test_grouped_bars_heights_follow_the_table():
    table = pd.DataFrame({"cell_type": ["BV2", "A172", "A172"], "model": ["u", "u", "c"], "F1": [0.5, 0.25, 0.75]})
    ax = plots.grouped_bars(table, "F1").axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights[:2] == [0.25, 0.5]  # model u: A172 then BV2 (study order)
    assert heights[2] == 0.75 and np.isnan(heights[3])  # model c has no BV2 row


def test_pick_images_balances_cell_types_and_depends_on_seed():
    names = [f"{t}_Phase_A1_1_00d{h:02d}h00m_1.tif" for t in ("A172", "BV2") for h in range(0, 24, 4)]
    images = [{"id": k, "file_name": n, "width": 4, "height": 4} for k, n in enumerate(names)]
    dataset = dataset_from_dict({"images": images, "annotations": []})
    picked = pick_images(dataset, 4, seed=0)
    types = [dataset.cell_type(i) for i in picked.image_ids]
    assert sorted(types) == ["A172", "A172", "BV2", "BV2"]
    seeds = {tuple(pick_images(dataset, 4, seed=s).image_ids) for s in range(5)}
    assert len(seeds) > 1
    assert pick_images(dataset, 0).image_ids == dataset.image_ids
    with pytest.raises(KeyError):
        pick_images(dataset, 2, cell_types=["nope"])


def test_density_table_confluence_counts_overlap_once():
    from cellseg_nb.viz.cells import image_density_table

    images = [{"id": 1, "file_name": "BV2_Phase_A1_1_01d04h00m_1.tif", "width": 10, "height": 10}]
    anns = [{"id": 1, "image_id": 1, "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]]},
            {"id": 2, "image_id": 1, "segmentation": [[2, 0, 6, 0, 6, 4, 2, 4]]}]  # overlaps the first by 2x4
    row = image_density_table(dataset_from_dict({"images": images, "annotations": anns})).iloc[0]
    assert row["n_cells"] == 2 and row["elapsed_hours"] == 28 and row["well"] == "A1"
    assert row["confluence"] == pytest.approx((16 + 16 - 8) / 100)


def _fake_evaluation(rows):
    """Only what the report helpers read: an evaluation's per-image table."""
    from types import SimpleNamespace

    return SimpleNamespace(per_image=pd.DataFrame(rows))


def test_growth_table_and_slopes_from_per_image_counts():
    from cellseg_nb.viz.report import growth_summary, growth_table

    names = ["A172_Phase_B7_1_00d00h00m_1.tif", "A172_Phase_B7_1_01d00h00m_1.tif"]  # 0 h and 24 h, well B7
    images = [{"id": k, "file_name": n, "width": 10, "height": 10} for k, n in enumerate(names)]
    gt = dataset_from_dict({"images": images, "annotations": []})
    ev = _fake_evaluation([
        {"image_id": 0, "n_cells": 10, "n_predictions": 8, "pixel_TP": 20, "pixel_FP": 5, "pixel_FN": 10},
        {"image_id": 1, "n_cells": 30, "n_predictions": 20, "pixel_TP": 50, "pixel_FP": 0, "pixel_FN": 30},
    ])
    growth = growth_table(gt, {"m": ev})
    gt_rows = growth[growth.source == "GT"]
    assert list(gt_rows["count"]) == [10, 30] and list(gt_rows["confluence"]) == [0.3, 0.8]
    model_rows = growth[growth.source == "m"]
    assert list(model_rows["count"]) == [8, 20] and list(model_rows["confluence"]) == [0.25, 0.5]
    slopes = growth_summary(growth).set_index("source")
    assert slopes.loc["GT", "count per 24 h"] == 20 and slopes.loc["m", "count per 24 h"] == 12
    assert slopes.loc["GT", "confluence per 24 h"] == pytest.approx(0.5)
    assert slopes.loc["GT", "well"] == "B7"


def test_flat_study_table_percentages_and_empty_rows():
    from cellseg_nb.viz.report import flat_study_table

    columns = pd.MultiIndex.from_tuples([("u", "F1"), ("u", "AP")], names=["model", "metric"])
    table = pd.DataFrame([[0.5, 0.4567], [np.nan, np.nan]], index=["LIVECell", "A172"], columns=columns)
    flat = flat_study_table(table)
    assert list(flat.columns) == ["set", "u F1", "u AP (%)"]
    assert flat.to_dict("records") == [{"set": "LIVECell", "u F1": 0.5, "u AP (%)": 45.7}]


def test_learning_curves_smooth_per_model_and_skip_absent_metrics():
    history = pd.DataFrame({"step": [1, 2, 3, 1, 2, 3], "model": ["a"] * 3 + ["b"] * 3,
                            "loss": [3.0, 1.0, 2.0, 6.0, 4.0, 2.0], "lr": [1.0] * 6, "AP": [np.nan] * 6})
    fig = plots.learning_curves(history, x="step", group="model", metrics=["loss", "lr", "AP", "missing"],
                                smooth=2, log=["loss"])
    assert [ax.get_title() for ax in fig.axes] == ["loss", "lr"]  # AP has no value, "missing" no column
    loss = fig.axes[0]
    raw_a, mean_a, raw_b, mean_b = loss.lines
    assert list(raw_a.get_ydata()) == [3.0, 1.0, 2.0] and list(mean_a.get_ydata()) == [3.0, 2.0, 1.5]
    assert list(mean_b.get_ydata()) == [6.0, 5.0, 3.0] and mean_a.get_color() == raw_a.get_color()
    assert loss.get_yscale() == "log" and fig.axes[1].get_yscale() == "linear"
    assert len(fig.axes[1].lines) == 2  # the learning rate is drawn as is, one line per model
    wrapped = plots.learning_curves(history.assign(x1=1.0, x2=2.0, x3=3.0), x="step", group="model",
                                    metrics=["loss", "lr", "x1", "x2", "x3"], columns=2)
    assert wrapped.axes[2].get_subplotspec().rowspan.start == 1  # third panel starts the second row


def test_model_scores_one_row_per_model_in_percent():
    from types import SimpleNamespace

    from cellseg_nb.viz.report import model_scores

    ev = SimpleNamespace(summary={"F1": 0.61234, "AP": 0.4567, "AFNR": 0.25, "F1_best": 0.7, "best_threshold": 0.31,
                                  "n_images": 3, "n_cells": 40, "n_predictions": 35})
    table = model_scores({"unet": ev})
    assert table.to_dict("records") == [{"model": "unet", "F1": 0.612, "AP (%)": 45.7, "AFNR (%)": 25.0,
                                         "F1_best": 0.7, "best_threshold": 0.31,
                                         "images": 3, "cells": 40, "predictions": 35}]


def test_prediction_examples_one_tile_per_image_and_model_with_thresholded_predictions():
    from cellseg_nb.data.splits import SplitData
    from cellseg_nb.viz.report import prediction_examples

    square = [[1.0, 1.0, 4.0, 1.0, 4.0, 4.0, 1.0, 4.0]]
    names = ["BV2_Phase_A1_1_00d00h00m_1.tif", "A172_Phase_A1_1_00d00h00m_1.tif", "A172_Phase_A1_1_00d04h00m_1.tif"]
    images = [{"id": k, "file_name": n, "width": 8, "height": 8} for k, n in enumerate(names)]
    annotations = [{"id": k + 1, "image_id": k, "category_id": 1, "segmentation": square, "area": 9.0,
                    "bbox": [1, 1, 3, 3], "iscrowd": 0} for k in range(3)]
    data = SplitData(dataset_from_dict({"images": images, "annotations": annotations}), Path("gt.json"), Path("."))
    data.load_image = lambda record: np.full((8, 8), record["id"] * 50, np.uint8)  # no files needed
    preds = {"u": [{"image_id": 0, "score": 0.9, "segmentation": {"size": [8, 8], "counts": "0"}},
                   {"image_id": 0, "score": 0.2, "segmentation": {"size": [8, 8], "counts": "0"}}],
             "c": []}
    tiles = prediction_examples(data, preds, n_images=2, seed=0, score_threshold=0.5)
    assert len(tiles) == 4  # 2 images x 2 models, one image per cell type, A172 first (study order)
    assert tiles[0][0].endswith("A172: 0 predicted, 1 cells") and tiles[1][0].startswith("c (score >= 0.50)")
    assert tiles[2][0] == "u (score >= 0.50)\nBV-2: 1 predicted, 1 cells"
    assert tiles[3][0] == "c (score >= 0.50)\nBV-2: 0 predicted, 1 cells"
    (gt, gt_color), (kept, color) = tiles[2][2]
    assert gt_color == "gt" and color == "prediction" and [p["score"] for p in kept] == [0.9]
    assert (tiles[2][1] == 0).all()
    per_model = prediction_examples(data, preds, n_images=2, score_threshold={"u": 0.1, "c": float("nan")})
    assert per_model[2][0] == "u (score >= 0.10)\nBV-2: 2 predicted, 1 cells" and "c (score >= 0.50)" in per_model[3][0]
