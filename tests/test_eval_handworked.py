"""Small cases worked out by hand: AFNR, F1 at a threshold and at the best threshold, mSA, pixel metrics
and every class of the error taxonomy."""

from __future__ import annotations

import numpy as np
import pytest

from cellseg_nb.data.coco import dataset_from_dict
from cellseg_nb.eval import evaluate_instances, masks_to_results

H, W = 100, 120
FILE = "A172_Phase_C7_1_02d16h00m_{}.tif"


def box(y0, x0, y1, x1):
    m = np.zeros((H, W), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def dataset(images: list[list[np.ndarray]]):
    """A CocoDataset whose cells are the given masks (RLE segmentations, exact areas)."""
    from pycocotools import mask as mask_utils

    imgs, anns = [], []
    for i, cells in enumerate(images, start=1):
        imgs.append({"id": i, "width": W, "height": H, "file_name": FILE.format(i)})
        for cell in cells:
            rle = mask_utils.encode(np.asfortranarray(cell.astype(np.uint8)))
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1, "iscrowd": 0,
                         "segmentation": {"size": [H, W], "counts": rle["counts"].decode()},
                         "area": float(cell.sum()), "bbox": [float(v) for v in mask_utils.toBbox(rle)]})
    return dataset_from_dict({"images": imgs, "annotations": anns})


def results(image_id, masks, scores):
    return masks_to_results(image_id, np.stack(masks), scores)


def test_afnr_is_mean_unmatched_fraction_over_iou_thresholds():
    # cell A found exactly; cell B found with IoU 0.72 (72 of its 100 pixels): matched at IoU 0.50..0.70
    # (5 thresholds), missed at 0.75..0.95 (5). Unmatched fraction: 0 at 5 thresholds, 1/2 at 5 -> AFNR 0.25.
    a, b = box(10, 10, 20, 20), box(50, 50, 60, 60)
    gt = dataset([[a, b]])
    ev = evaluate_instances(gt, results(1, [a, box(50, 50, 58, 59)], [0.9, 0.8]))
    assert ev.summary["AFNR"] == pytest.approx(0.25)
    assert ev.summary["AR2000"] == pytest.approx(0.75)
    # cell-level SA per threshold: TP 2 (5 thresholds) -> 1; TP 1, FP 1, FN 1 (5 thresholds) -> 1/3
    assert ev.summary["mSA"] == pytest.approx((5 * 1 + 5 / 3) / 10)
    assert ev.summary["SA50"] == pytest.approx(1.0)


def test_f1_at_threshold_best_threshold_and_counts():
    cells = [box(5, 5, 15, 15), box(30, 30, 45, 45), box(60, 60, 80, 80)]
    gt = dataset([cells])
    spurious1, spurious2 = box(85, 100, 95, 110), box(5, 90, 15, 100)
    preds = results(1, [cells[0], cells[1], spurious1, spurious2], [0.9, 0.8, 0.6, 0.3])
    ev = evaluate_instances(gt, preds, score_threshold=0.5)
    s = ev.summary
    # score >= 0.5 keeps 3 predictions: TP 2, FP 1, FN 1
    assert (s["precision"], s["recall"], s["F1"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    # thresholds 0.9: F1 2/(1+3)=0.5; 0.8: 4/5=0.8; 0.6: 4/6; 0.3: 4/7 -> best 0.8 at 0.8
    assert s["F1_best"] == pytest.approx(0.8)
    assert s["best_threshold"] == pytest.approx(0.8)
    assert s["mSA"] == pytest.approx(0.5)            # TP 2 / (2 + 1 + 1) at every IoU threshold
    row = ev.per_image.iloc[0]
    assert (row["TP"], row["FP"], row["FN"], row["n_cells"], row["n_predictions"]) == (2, 1, 1, 3, 3)
    assert s["count_MAE"] == pytest.approx(0.0)
    # pixels: truth 100+225+400=725, prediction 100+225+100=425, overlap 325
    assert row["pixel_TP"] == 325 and row["pixel_FP"] == 100 and row["pixel_FN"] == 400
    assert row["pixel_F1"] == pytest.approx(2 * 325 / (725 + 425))
    assert row["pixel_IoU"] == pytest.approx(325 / 825)


def test_count_agreement_over_images():
    c = [box(5 + 12 * k, 5, 15 + 12 * k, 15) for k in range(6)]
    gt = dataset([c[:2], c[:4], c[:6]])
    preds = results(1, c[:1], [0.9]) + results(2, c[:4], [0.9] * 4) + results(3, c[:5], [0.9] * 5)
    s = evaluate_instances(gt, preds).summary
    assert s["count_MAE"] == pytest.approx((1 + 0 + 1) / 3)
    true, pred = np.array([2, 4, 6]), np.array([1, 4, 5])
    assert s["count_R2"] == pytest.approx(np.corrcoef(true, pred)[0, 1] ** 2)


def taxonomy_case():
    """One image with one instance of every class; sizes: A small, C/D medium, E large."""
    A = box(2, 2, 12, 12)            # 100 px, small: matched exactly
    B = box(2, 20, 22, 40)           # 400 px, medium: matched with IoU 0.6 -> boundary
    C, D = box(30, 2, 50, 22), box(30, 24, 50, 44)     # 400 px each, side by side: merged
    E = box(55, 2, 95, 42)           # 1600 px, large: split in two halves
    F = box(60, 60, 80, 80)          # 400 px: missed
    cells = [A, B, C, D, E, F]
    pred_B = box(2, 20, 22, 32)                      # 240 px inside B: IoU 0.6
    merge = box(30, 2, 50, 44)                       # covers C and D (IoU with each 400/840 < 0.5)
    half1, half2 = box(55, 2, 95, 21), box(55, 23, 95, 42)   # each 760 px, IoU 0.475 with E
    ghost = box(85, 100, 95, 110)                    # nothing there: spurious
    preds = [A, pred_B, merge, half1, half2, ghost]
    return cells, preds


def test_every_taxonomy_class():
    cells, preds = taxonomy_case()
    gt = dataset([cells])
    ev = evaluate_instances(gt, results(1, preds, [0.9, 0.85, 0.8, 0.7, 0.65, 0.6]))
    row = ev.per_image.iloc[0]
    assert row["cells_matched"] == 2      # A, B
    assert row["cells_boundary"] == 1     # B: IoU 0.6, matched at 0.5 not at 0.75
    assert row["cells_merged"] == 2       # C, D
    assert row["cells_split"] == 1        # E
    assert row["cells_missed"] == 1       # F
    assert row["preds_matched"] == 2
    assert row["preds_merged"] == 1
    assert row["preds_split"] == 2
    assert row["preds_spurious"] == 1
    table = ev.taxonomy_table(("cell_type", "size"))
    a172 = table.loc["A172"]
    assert a172.loc["small", "cells_matched"] == 1          # A
    assert a172.loc["medium", "cells_matched"] == 1         # B
    assert a172.loc["medium", "cells_boundary"] == 1
    assert a172.loc["medium", "cells_merged"] == 2
    assert a172.loc["large", "cells_split"] == 1
    assert a172.loc["medium", "cells_missed"] == 1
    assert a172.loc["medium", "preds_merged"] == 1          # the merge prediction: 840 px < 31^2
    assert a172.loc["medium", "preds_split"] == 2           # halves: 760 px each
    assert a172.loc["small", "preds_spurious"] == 1         # ghost: 100 px
    assert table.to_numpy().sum() == 6 + 1 + 6              # 6 cells, 1 boundary flag, 6 predictions


def test_taxonomy_respects_score_threshold_and_precedence():
    cells, preds = taxonomy_case()
    gt = dataset([cells])
    # below the threshold the merge prediction does not count: C and D become plain misses
    scores = [0.9, 0.85, 0.2, 0.7, 0.65, 0.6]
    row = evaluate_instances(gt, results(1, preds, scores), score_threshold=0.5).per_image.iloc[0]
    assert row["cells_merged"] == 0 and row["cells_missed"] == 3 and row["preds_merged"] == 0
    # a half of E good enough to match (IoU >= 0.5) makes E matched, the other half spurious
    half_big = box(55, 2, 95, 24)                   # 880 px inside E: IoU 0.55
    preds2 = [preds[0], preds[1], preds[2], half_big, box(55, 26, 95, 42), preds[5]]
    row = evaluate_instances(gt, results(1, preds2, [0.9, 0.85, 0.8, 0.7, 0.65, 0.6])).per_image.iloc[0]
    assert row["cells_split"] == 0 and row["cells_matched"] == 3
    assert row["preds_split"] == 1 and row["preds_spurious"] == 1 and row["preds_matched"] == 3


def test_images_without_predictions_count_as_missed():
    cells = [box(5, 5, 15, 15), box(30, 30, 45, 45)]
    gt = dataset([cells, cells])
    ev = evaluate_instances(gt, results(1, cells, [0.9, 0.9]))
    assert ev.summary["recall"] == pytest.approx(0.5)
    assert ev.summary["AFNR"] == pytest.approx(0.5)
    assert ev.per_image.iloc[1]["cells_missed"] == 2
    empty = evaluate_instances(gt, [])
    assert empty.summary["AP"] == 0.0 and empty.summary["AFNR"] == 1.0 and empty.summary["F1"] == 0.0


@pytest.mark.parametrize("backend", ["faster", "pycocotools"])
def test_evaluation_leaves_inputs_untouched(backend):
    import copy
    import json

    cells, preds = taxonomy_case()
    gt = dataset([cells])
    res = results(1, preds, [0.9, 0.85, 0.8, 0.7, 0.65, 0.6])
    before_gt, before_res = json.dumps(gt.to_dict(), sort_keys=True), copy.deepcopy(res)
    evaluate_instances(gt, res, backend=backend)
    evaluate_instances(gt, res, backend=backend, iou_type="bbox")
    assert json.dumps(gt.to_dict(), sort_keys=True) == before_gt
    assert res == before_res


def test_dense_semantic_metrics():
    from cellseg_nb.eval.semantic import semantic_table, summarize_pixels

    cells = [box(10, 10, 30, 30), box(50, 50, 60, 70)]      # 400 + 200 px
    gt = dataset([cells, cells])
    pred1 = box(10, 10, 30, 40)                              # 600 px: 400 on cell A
    pred2 = np.zeros((H, W), bool)
    table = semantic_table(gt, {1: pred1, 2: pred2})
    first, second = table.iloc[0], table.iloc[1]
    assert (first["pixel_TP"], first["pixel_FP"], first["pixel_FN"]) == (400, 200, 200)
    assert first["pixel_F1"] == pytest.approx(800 / 1200)
    assert first["pixel_IoU"] == pytest.approx(0.5)
    assert second["pixel_recall"] == 0.0 and np.isnan(second["pixel_precision"])
    assert first["cell_type"] == "A172"
    pooled = summarize_pixels(table)
    assert pooled["pixel_F1_pooled"] == pytest.approx(800 / (800 + 200 + 800))
    assert pooled["pixel_F1_mean"] == pytest.approx((800 / 1200 + 0.0) / 2)
    from cellseg_nb.eval.semantic import pixels_by_cell_type

    by_type = pixels_by_cell_type(table)
    assert list(by_type.index) == ["A172", "all"]
    assert by_type.loc["A172", "pixel_IoU_pooled"] == pytest.approx(400 / (400 + 200 + 200 + 600))
    from cellseg_nb.errors import DataError

    with pytest.raises(DataError, match="image is 120x100"):
        semantic_table(gt, {1: np.zeros((H, W + 1), bool)})


def test_evaluation_tables_and_json():
    import json

    cells, preds = taxonomy_case()
    gt = dataset([cells, cells])
    ev = evaluate_instances(gt, results(1, preds, [0.9, 0.85, 0.8, 0.7, 0.65, 0.6]))
    table = ev.per_cell_type_table()
    assert list(table.index) == ["A172", "all"]
    assert table.loc["all", "n_cells"] == 12 and table.loc["all", "n_images"] == 2
    assert table.loc["A172", "recall"] == pytest.approx(2 / 12)
    out = json.loads(json.dumps(ev.to_json()))          # NaN-free, json-safe
    assert out["per_cell_type"]["A172"]["F1"] == pytest.approx(ev.summary["F1"])
    assert list(ev.per_image["file_name"]) == [FILE.format(1), FILE.format(2)]
