"""The prediction browser's callbacks, headless: widget changes must change the picture and the numbers,
clicks report the object under the cursor, images are ordered by well and time.

Expected numbers are hand-computed from squares whose overlaps are known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from cellseg_nb.data.coco import dataset_from_dict
from cellseg_nb.data.images import write_image
from cellseg_nb.viz.browser import ALL, PredictionBrowser, browse
from cellseg_nb.viz.layers import MEANING_COLORS

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
    names = ["A172_Phase_C7_1_00d04h00m_1.tif", "SKOV3_Phase_E4_1_01d00h00m_2.tif",
             "A172_Phase_C7_1_00d00h00m_1.tif"]  # listed before the first: same well, earlier
    rng = np.random.default_rng(0)
    for name in names:
        write_image(tmp_path / "imgs" / name, rng.integers(100, 150, (H, W), dtype=np.uint8))
    images = [{"id": k + 1, "file_name": n, "width": W, "height": H} for k, n in enumerate(names)]
    images[2]["id"] = 3
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


def painted(browser, name, panel=0):
    return np.all(browser.pictures[panel] == MEANING_COLORS[name], axis=-1)


def test_models_ordered_by_f1_and_images_by_well_and_time(browser: PredictionBrowser):
    # pooled over the images: m1 TP 1 FP 1 FN 3 (F1 2/6), m2 TP 1 FP 0 FN 3 (F1 2/5), m3 TP 0 (F1 0)
    assert [value for _, value in browser.model.options] == ["m2", "m1", "m3"]
    assert browser.model.value == "m2"
    assert browser.model.options[0][0] == "m2 (F1 0.400)"
    # A172 images first (study order), same well: 0 h before 4 h; then SK-OV-3
    assert [value for _, value in browser.image.options] == [3, 1, 2]
    assert browser.image.options[1][0].startswith("A172 · well C7 · site 1") and "(4 h)" in browser.image.options[1][0]
    browser.step(1)
    assert browser.image.value == 1
    browser.step(-1)
    browser.step(-1)  # wraps around
    assert browser.image.value == 2


def test_threshold_slider_changes_metrics_classes_and_picture(browser: PredictionBrowser):
    browser.image.value, browser.model.value = 1, "m1"
    # score >= 0.5 keeps the exact square (IoU 1) and the spurious one: TP 1, FP 1, FN 2
    assert counts(browser) == {"TP": 1, "FP": 1, "FN": 2}
    assert browser.metrics["F1"] == pytest.approx(2 * 1 / (2 * 1 + 1 + 2))
    assert browser.classes == {"cells": ["matched", "missed", "missed"], "predictions": ["matched", "spurious"]}
    picture_before = browser.picture.copy()
    browser.threshold.value = 0.3  # adds the shifted square: overlap 8x10 over union 12x10 -> IoU 2/3
    assert counts(browser) == {"TP": 2, "FP": 1, "FN": 1}
    assert browser.classes["cells"] == ["matched", "matched", "missed"]
    assert browser.metrics["cells_boundary"] == 1  # IoU 2/3 matches at 0.5 but not at 0.75
    # mSA: per IoU threshold TP/(TP+FP+FN); the shifted square counts only for thresholds <= 2/3 (0.50..0.65)
    expected = np.mean([2 / 4] * 4 + [1 / 5] * 6)
    assert browser.metrics["mSA"] == pytest.approx(expected)
    assert not np.array_equal(browser.picture, picture_before)
    assert "0.30" in browser.metrics_widget.value
    assert "harmonic mean" in browser.metrics_widget.value  # F1's glossary entry as tooltip


def test_error_colours_fill_and_legend(browser: PredictionBrowser):
    browser.image.value, browser.model.value = 1, "m1"
    browser.show_gt.value = False
    browser.show_prediction.value = False
    assert np.array_equal(browser.picture[..., 0], browser.picture[..., 1])  # plain grey image
    assert "ground truth" not in browser.legend_widget.value  # hidden layers leave the legend
    browser.show_gt.value = True
    browser.show_errors.value = True
    # cells B and C are missed: their outlines (1 px inside the square) in vermillion, A's in green
    assert painted(browser, "missed")[20, 5:15].all() and painted(browser, "missed")[5, 25:35].all()
    assert painted(browser, "matched")[5, 5:15].all()
    assert not painted(browser, "missed")[10, 10]  # outlined: the inside keeps the image
    browser.filled.value = "filled"
    browser.opacity.value = 1.0
    assert painted(browser, "missed")[25, 10] and painted(browser, "missed")[10, 30]
    browser.show_gt.value = False
    browser.show_prediction.value = True
    assert painted(browser, "spurious")[34, 34]  # the spurious square, filled
    assert "spurious" in browser.legend_widget.value and "missed" not in browser.legend_widget.value
    browser.model.value = "m3"
    assert browser.classes == {"cells": ["merged", "split", "merged"], "predictions": ["merged", "split", "split", "split"]}
    assert counts(browser, ("TP", "FP", "FN", "cells_merged", "cells_split", "preds_merged", "preds_split")) == {
        "TP": 0, "FP": 4, "FN": 3, "cells_merged": 2, "cells_split": 1, "preds_merged": 1, "preds_split": 3}
    assert painted(browser, "merged")[10, 20] and painted(browser, "split")[24, 10]


def test_click_reports_class_iou_and_score(browser: PredictionBrowser):
    browser.image.value, browser.model.value = 1, "m1"
    browser.threshold.value = 0.3
    found = browser.inspect(10, 24)  # inside cell B and the shifted square (score 0.4, IoU 2/3)
    assert found["cell"]["class"] == "matched" and found["cell"]["boundary"]
    assert found["cell"]["iou"] == pytest.approx(2 / 3)
    assert found["prediction"] == {"index": 1, "class": "matched", "iou": pytest.approx(2 / 3), "score": 0.4}
    found = browser.inspect(34, 34)
    assert "cell" not in found and found["prediction"]["class"] == "spurious"
    assert found["prediction"]["score"] == 0.8 and found["prediction"]["iou"] == 0.0
    assert "spurious" in browser.info.value
    browser.threshold.value = 0.85  # only the exact square stays; the spurious one is gone
    assert "prediction" not in browser.inspect(34, 34)
    assert browser.inspect(30, 10)["cell"]["class"] == "missed"


def aspects(browser) -> list[float]:
    """Width over height of each panel's image on the canvas, in display pixels."""
    browser.figure.canvas.draw()
    return [ax.get_window_extent().width / ax.get_window_extent().height for ax in browser.axes]


def test_model_comparison_and_cell_type_selection(browser: PredictionBrowser):
    browser.image.value = 1
    browser.compare.value = "m3"
    assert len(browser.pictures) == 2 and len(browser.axes) == 2
    assert aspects(browser) == [pytest.approx(W / H)] * 2  # two panels, each at the image's aspect ratio
    left, right = (ax.get_window_extent() for ax in browser.axes)
    assert left.x1 <= right.x0 + 1  # side by side
    assert not np.array_equal(browser.pictures[0], browser.pictures[1])
    assert "<th style='text-align:right'>m3</th>" in browser.metrics_widget.value  # a column per model
    browser.show_errors.value = True  # the legend lists the classes of both panels (m3: merged and split)
    assert "merged" in browser.legend_widget.value and "split" in browser.legend_widget.value
    browser.show_errors.value = False
    assert browser.axes[1].get_shared_x_axes().joined(browser.axes[0], browser.axes[1])  # zoom together
    browser.compare.value = "none"
    assert len(browser.pictures) == 1 and aspects(browser) == [pytest.approx(W / H)]
    browser.model.value = "m2"
    assert counts(browser) == {"TP": 1, "FP": 0, "FN": 2}
    browser.cell_type.value = "SKOV3"
    assert [value for _, value in browser.image.options] == [2]
    assert browser.image.value == 2
    assert counts(browser, ("n_cells", "TP", "FP", "FN")) == {"n_cells": 1, "TP": 0, "FP": 0, "FN": 1}
    browser.cell_type.value = ALL
    assert len(browser.image.options) == 3


def test_keys_step_through_images(browser: PredictionBrowser):
    from types import SimpleNamespace

    first = browser.image.value
    browser._on_key(SimpleNamespace(key="n"))
    assert browser.image.value != first
    browser._on_key(SimpleNamespace(key="left"))
    assert browser.image.value == first
    browser._on_key(SimpleNamespace(key="x"))
    assert browser.image.value == first


@pytest.mark.parametrize("priority", ["first", "last"])
def test_label_image_paints_like_pycocotools_decode(priority):
    """The vectorised RLE decoder against pycocotools' own decode, overlapping random masks included."""
    from cellseg_nb.viz.layers import label_image

    rng = np.random.default_rng(1)
    h, w = H, W
    masks = [(rng.random((h, w)) < rng.uniform(0.02, 0.7)).astype(np.uint8) for _ in range(40)]
    masks += [np.zeros((h, w), np.uint8), np.ones((h, w), np.uint8), square(3, 9, 40, 52)]
    rles = [mask_utils.encode(np.asfortranarray(m)) for m in masks]
    expected = np.zeros((h, w), np.int32)
    for k in (range(len(masks) - 1, -1, -1) if priority == "first" else range(len(masks))):
        expected[mask_utils.decode(rles[k]).astype(bool)] = k + 1
    assert np.array_equal(label_image(rles, h, w, priority=priority), expected)
    as_text = [rle(m) for m in masks]  # str counts, as results files hold them
    assert np.array_equal(label_image(as_text, h, w, priority=priority), expected)


def test_ranking_uses_at_most_rank_images(browser: PredictionBrowser):
    # the first image of the list (id 3) has no cells and no predictions: every F1 is undefined there,
    # so ranked on it alone the models keep their alphabetical order
    alone = PredictionBrowser(browser.data, rank_images=1)
    assert [value for _, value in alone.model.options] == ["m1", "m2", "m3"] and alone.model.value == "m1"
    assert PredictionBrowser(browser.data, model="m3").model.value == "m3"


def test_zoom_survives_threshold_changes_and_resets_with_the_image(browser: PredictionBrowser):
    from types import SimpleNamespace

    browser.image.value = 1
    ax = browser.axes[0]
    browser._on_scroll(SimpleNamespace(inaxes=ax, xdata=10.0, ydata=10.0, button="up"))  # zoom in at (10, 10)
    zoomed = ax.get_xlim()
    assert zoomed[1] - zoomed[0] == pytest.approx(W / 1.25)
    browser.threshold.value = 0.3
    assert browser.axes[0].get_xlim() == pytest.approx(zoomed)
    browser.step(1)
    assert browser.axes[0].get_xlim() == pytest.approx((-0.5, W - 0.5))


def test_outline_of_a_label_image_is_kept_when_objects_are_hidden():
    """Painting with the full image's outline masked to the visible objects equals tracing the outline of
    the visible objects alone (what the browser relies on when the threshold hides predictions)."""
    from cellseg_nb.viz.layers import label_image, label_outline, paint, plain_lut

    rng = np.random.default_rng(3)
    masks = [(rng.random((H, W)) < 0.2).astype(np.uint8) for _ in range(6)] + [square(5, 30, 5, 40)]
    labels = label_image([mask_utils.encode(np.asfortranarray(m)) for m in masks], H, W, priority="first")
    full = label_outline(labels)
    for keep in range(len(masks) + 1):
        visible = np.where(labels <= keep, labels, 0)
        assert np.array_equal(full & (visible > 0), label_outline(visible))
        lut = plain_lut(len(masks), (255, 0, 0))
        a = paint(np.zeros((H, W, 3), np.float32), visible, lut, filled=True, opacity=0.5)
        b = paint(np.zeros((H, W, 3), np.float32), visible, lut, filled=True, opacity=0.5, outline=full)
        assert np.array_equal(a, b)
