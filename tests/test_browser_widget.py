"""The prediction browser's callbacks, headless: widget changes must change the picture and the numbers.

Expected numbers are hand-computed from squares whose overlaps are known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from cellseg_nb.data.coco import dataset_from_dict
from cellseg_nb.data.images import write_image
from cellseg_nb.viz.browser import ALL, CELL_ERROR_COLORS, PREDICTION_ERROR_COLORS, PredictionBrowser, browse

H, W = 40, 50


def square(r0, r1, c0, c1):
    m = np.zeros((H, W), dtype=np.uint8)
    m[r0:r1, c0:c1] = 1
    return m


def rle(m):
    enc = mask_utils.encode(np.asfortranarray(m))
    enc["counts"] = enc["counts"].decode("ascii")
    return enc


GT_A = [square(5, 15, 5, 15), square(20, 30, 5, 15), square(5, 15, 25, 35)]  # cells A, B, C
P_EXACT, P_SHIFTED, P_SPURIOUS = square(5, 15, 5, 15), square(22, 32, 5, 15), square(30, 38, 30, 38)
# model m3: one prediction covering A and C (a merge), B cut in three pieces, each IoU < 0.5 (a split)
P_MERGE, P_PIECES = square(5, 15, 5, 35), [square(20, 23, 5, 15), square(23, 26, 5, 15), square(26, 30, 5, 15)]


def results(pairs):
    return [{"image_id": 1, "category_id": 1, "segmentation": rle(m), "score": s} for m, s in pairs]


@pytest.fixture()
def browser(tmp_path):
    names = ["A172_Phase_C7_1_00d04h00m_1.tif", "SKOV3_Phase_E4_1_01d00h00m_2.tif"]
    rng = np.random.default_rng(0)
    for name in names:
        write_image(tmp_path / "imgs" / name, rng.integers(100, 150, (H, W), dtype=np.uint8))
    images = [{"id": k + 1, "file_name": n, "width": W, "height": H} for k, n in enumerate(names)]
    anns = [{"id": k + 1, "image_id": 1, "category_id": 1, "segmentation": rle(m), "iscrowd": 0}
            for k, m in enumerate(GT_A)]
    anns.append({"id": 9, "image_id": 2, "category_id": 1, "segmentation": rle(square(1, 9, 1, 9)), "iscrowd": 0})
    gt = dataset_from_dict({"images": images, "annotations": anns})
    predictions = {"m1": results([(P_EXACT, 0.9), (P_SHIFTED, 0.4), (P_SPURIOUS, 0.8)]),
                   "m2": results([(P_EXACT, 0.95)]),
                   "m3": results([(P_MERGE, 0.9)] + [(p, 0.8) for p in P_PIECES])}
    return browse(gt, tmp_path / "imgs", predictions, score_threshold=0.5)


def counts(browser, keys=("TP", "FP", "FN")):
    return {k: browser.metrics[k] for k in keys}


def test_threshold_slider_changes_metrics_classes_and_picture(browser: PredictionBrowser):
    assert browser.image.value == 1 and browser.model.value == "m1"
    # score >= 0.5 keeps the exact square (IoU 1) and the spurious one: TP 1, FP 1, FN 2
    assert counts(browser) == {"TP": 1, "FP": 1, "FN": 2}
    assert browser.metrics["F1"] == pytest.approx(2 * 1 / (2 * 1 + 1 + 2))
    assert browser.classes == {"cells": ["matched", "missed", "missed"], "predictions": ["matched", "spurious"]}
    png_before, picture_before = browser.picture_widget.value, browser.picture.copy()
    browser.threshold.value = 0.3  # adds the shifted square: overlap 8x10 over union 12x10 -> IoU 2/3
    assert counts(browser) == {"TP": 2, "FP": 1, "FN": 1}
    assert browser.classes["cells"] == ["matched", "matched", "missed"]
    assert browser.metrics["cells_boundary"] == 1  # IoU 2/3 matches at 0.5 but not at 0.75
    # mSA: per IoU threshold TP/(TP+FP+FN); the shifted square counts only for thresholds <= 2/3 (0.50..0.65)
    expected = np.mean([2 / 4] * 4 + [1 / 5] * 6)
    assert browser.metrics["mSA"] == pytest.approx(expected)
    assert browser.picture_widget.value != png_before
    assert not np.array_equal(browser.picture, picture_before)
    assert "0.30" in browser.metrics_widget.value


def test_error_overlay_colours_taxonomy_classes(browser: PredictionBrowser):
    browser.show_gt.value = False
    browser.show_prediction.value = False
    assert np.array_equal(browser.picture[..., 0], browser.picture[..., 1])  # plain grey image
    browser.show_errors.value = True
    painted = lambda colour: np.all(browser.picture == colour, axis=-1)  # noqa: E731
    assert painted(PREDICTION_ERROR_COLORS["spurious"])[30, 30:38].all()
    assert not painted(PREDICTION_ERROR_COLORS["spurious"])[:25].any()
    assert painted(CELL_ERROR_COLORS["missed"])[20, 5:15].all() and painted(CELL_ERROR_COLORS["missed"])[5, 25:35].all()
    assert painted(PREDICTION_ERROR_COLORS["matched"])[5, 5:15].all()
    browser.model.value = "m3"
    assert browser.classes == {"cells": ["merged", "split", "merged"], "predictions": ["merged", "split", "split", "split"]}
    assert counts(browser, ("TP", "FP", "FN", "cells_merged", "cells_split", "preds_merged", "preds_split")) == {
        "TP": 0, "FP": 4, "FN": 3, "cells_merged": 2, "cells_split": 1, "preds_merged": 1, "preds_split": 3}
    assert painted(CELL_ERROR_COLORS["split"])[20:30, 5].all()      # cell B's thick outline
    assert painted(CELL_ERROR_COLORS["merged"])[5:15, 34].all()     # cell C's right edge


def test_model_and_cell_type_selection(browser: PredictionBrowser):
    browser.model.value = "m2"
    assert counts(browser) == {"TP": 1, "FP": 0, "FN": 2}
    browser.cell_type.value = "SKOV3"
    assert [label for label, _ in browser.image.options] == ["SKOV3_Phase_E4_1_01d00h00m_2.tif"]
    assert browser.image.value == 2
    assert counts(browser, ("n_cells", "TP", "FP", "FN")) == {"n_cells": 1, "TP": 0, "FP": 0, "FN": 1}
    browser.cell_type.value = ALL
    assert len(browser.image.options) == 2
