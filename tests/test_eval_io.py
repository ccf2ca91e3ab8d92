"""Predictions in and out: COCO results json, label TIFFs, and clear errors for bad prediction files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from cellseg_nb.data.coco import dataset_from_dict
from cellseg_nb.errors import DataError
from cellseg_nb.eval import evaluate_instances, load_results, masks_to_results, save_results
from cellseg_nb.eval.labels import (label_image_from_masks, read_label_tiff, read_label_tiffs,
                                    results_from_label_image, write_label_tiffs)

H, W = 40, 60


def gt_dataset():
    images = [{"id": 7, "width": W, "height": H, "file_name": "BV2_Phase_A4_2_00d00h00m_1.tif"},
              {"id": 8, "width": W, "height": H, "file_name": "SKOV3_Phase_H4_1_00d04h00m_2.tif"}]
    anns = [{"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0, "area": 100.0, "bbox": [5, 5, 10, 10],
             "segmentation": [[5, 5, 15, 5, 15, 15, 5, 15]]}]
    return dataset_from_dict({"images": images, "annotations": anns})


def masks():
    m = np.zeros((3, H, W), dtype=bool)
    m[0, 5:15, 5:15] = True
    m[1, 10:30, 10:20] = True      # overlaps mask 0 on rows 10..14, cols 10..14
    m[2, 30:38, 40:58] = True
    return m


def test_masks_to_results_round_trip():
    m = masks()
    res = masks_to_results(7, m, np.array([0.3, 0.9, 0.5], dtype=np.float32))
    assert [r["score"] for r in res] == pytest.approx([0.3, 0.9, 0.5])
    assert all(r["category_id"] == 1 and isinstance(r["segmentation"]["counts"], str) for r in res)
    json.dumps(res)
    for r, expected in zip(res, m):
        rle = {"size": r["segmentation"]["size"], "counts": r["segmentation"]["counts"].encode()}
        np.testing.assert_array_equal(mask_utils.decode(rle).astype(bool), expected)
    assert res[1]["bbox"] == [10.0, 10.0, 10.0, 20.0]
    assert masks_to_results(7, np.zeros((0, H, W), bool), []) == []
    with pytest.raises(ValueError, match="NaN"):
        masks_to_results(7, m, [0.1, float("nan"), 0.2])


def test_save_and_load_results(tmp_path):
    gt = gt_dataset()
    res = masks_to_results(7, masks(), [0.3, 0.9, 0.5])
    path = save_results(tmp_path / "sub" / "pred.json", res)
    assert [p.name for p in path.parent.iterdir()] == ["pred.json"]   # no temp file left behind
    loaded = load_results(path, gt)
    assert [r["segmentation"]["counts"] for r in loaded] == [r["segmentation"]["counts"] for r in res]
    assert [r["bbox"] for r in loaded] == [r["bbox"] for r in res]


def _write(tmp_path, payload, name="pred.json"):
    path = tmp_path / name
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


def good_record(**changes):
    rec = masks_to_results(7, masks()[:1], [0.5])[0]
    rec.update(changes)
    return rec


@pytest.mark.parametrize("payload, problem", [
    ("", "empty"),
    ("[]", "no predictions"),
    ('[{"image_id": 7, "score": 0.5', "not valid JSON"),
    ({"not": "a list"}, "list of COCO result records"),
])
def test_bad_prediction_files(tmp_path, payload, problem):
    path = _write(tmp_path, payload)
    with pytest.raises(DataError, match=problem) as info:
        load_results(path, gt_dataset())
    assert str(path) in str(info.value)


@pytest.mark.parametrize("change, problem", [
    ({"image_id": 999}, "image_id 999 is not an image"),
    ({"image_id": True}, "'image_id' is True"),           # would otherwise find image 1 (True == 1)
    ({"image_id": 7.0}, "'image_id' is 7.0"),
    ({"score": float("nan")}, "finite"),
    ({"score": 1.5}, "outside"),
    ({"score": -0.1}, "outside"),
    ({"score": "high"}, "finite number"),
    ({"segmentation": {"size": [H + 1, W], "counts": "abc"}}, "differs from the image"),
    ({"segmentation": [[1, 2, 3]]}, "polygon"),
    ({"segmentation": [[1, 2, 3, 4, float("inf"), 6]]}, "NaN or infinite"),
    ({"bbox": [1, 2, -3, 4]}, "bbox"),
])
def test_bad_records_name_file_and_record(tmp_path, change, problem):
    records = [good_record(), good_record(**change)]
    path = _write(tmp_path, json.dumps(records, allow_nan=True))
    with pytest.raises(DataError, match=problem) as info:
        load_results(path, gt_dataset())
    message = str(info.value)
    assert str(path) in message and "prediction #1" in message
    assert info.value.record.startswith("prediction #1")


def test_missing_key_and_in_memory_validation():
    rec = good_record()
    del rec["score"]
    with pytest.raises(DataError, match="missing key 'score'"):
        evaluate_instances(gt_dataset(), [good_record(), rec])
    with pytest.raises(DataError, match="image_id 'x'"):
        evaluate_instances(gt_dataset(), [good_record(image_id="x")])
    with pytest.raises(DataError, match="differs from the image"):
        evaluate_instances(gt_dataset(), masks_to_results(7, np.zeros((1, H, W + 4), bool), [0.5]))


def test_label_image_overlap_rule_higher_score_wins():
    m = masks()
    labels = label_image_from_masks(m, [0.3, 0.9, 0.5])
    assert labels.dtype == np.uint16
    # label 1 = highest score (mask 1), 2 = mask 2, 3 = mask 0
    assert labels[12, 12] == 1           # overlap of masks 0 and 1: mask 1 (0.9) wins over mask 0 (0.3)
    assert labels[6, 6] == 3
    assert labels[35, 50] == 2
    assert labels[0, 0] == 0
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    assert (labels == 3).sum() == 100 - 25


def test_label_tiffs_round_trip(tmp_path):
    import tifffile

    gt = gt_dataset()
    res = masks_to_results(7, masks(), [0.3, 0.9, 0.5])
    paths = write_label_tiffs(res, gt, tmp_path / "labels")
    assert [p.name for p in paths] == ["BV2_Phase_A4_2_00d00h00m_1.tif", "SKOV3_Phase_H4_1_00d04h00m_2.tif"]
    on_disk = tifffile.imread(paths[0])           # plain tifffile, no imagecodecs
    assert on_disk.dtype == np.uint16 and on_disk.shape == (H, W)
    np.testing.assert_array_equal(on_disk, label_image_from_masks(masks(), [0.3, 0.9, 0.5]))
    assert not tifffile.imread(paths[1]).any()
    back = read_label_tiffs(tmp_path / "labels", gt, scores="rank")
    assert len(back) == 3 and {r["image_id"] for r in back} == {7}
    for rec in back:
        rle = {"size": rec["segmentation"]["size"], "counts": rec["segmentation"]["counts"].encode()}
        np.testing.assert_array_equal(mask_utils.decode(rle).astype(bool), on_disk == rec["label"])
    assert [r["score"] for r in back] == pytest.approx([1.0, 2 / 3, 1 / 3])
    assert load_results(save_results(tmp_path / "back.json", back), gt)


def test_results_from_random_label_image_match_each_label():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 6, size=(H, W)).astype(np.uint16)
    labels[:, -1] = 0
    res = results_from_label_image(labels, 1)
    assert [r["label"] for r in res] == [1, 2, 3, 4, 5]
    for rec in res:
        rle = {"size": [H, W], "counts": rec["segmentation"]["counts"].encode()}
        np.testing.assert_array_equal(mask_utils.decode(rle).astype(bool), labels == rec["label"])
        assert rec["score"] == 1.0


def test_label_tiff_errors(tmp_path):
    gt = gt_dataset()
    with pytest.raises(DataError, match="no label image") as info:
        read_label_tiffs(tmp_path, gt)
    assert "BV2_Phase_A4_2_00d00h00m_1.tif" in str(info.value)
    assert read_label_tiffs(tmp_path, gt, allow_missing=True) == []
    from cellseg_nb.eval.labels import write_label_tiff

    path = write_label_tiff(tmp_path / "x.tif", np.zeros((H, W + 1), np.uint16))
    with pytest.raises(DataError, match="61x40"):
        read_label_tiff(path, 7, expected_size=(W, H))
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff")
    with pytest.raises(DataError, match="cannot decode"):
        read_label_tiff(bad, 7)
    assert read_label_tiff(path, 7) == []                    # an all-background image: no instances


def test_masks_to_results_accepts_model_output_tensors():
    torch = pytest.importorskip("torch")
    m = masks()
    res = masks_to_results(3, torch.from_numpy(m), torch.tensor([0.3, 0.9, 0.5], dtype=torch.float32))
    expected = masks_to_results(3, m, [0.3, 0.9, 0.5])
    assert [r["segmentation"] for r in res] == [r["segmentation"] for r in expected]
    assert [r["score"] for r in res] == pytest.approx([0.3, 0.9, 0.5])


def test_numpy_scores_and_huge_coordinates():
    gt = gt_dataset()
    rec = good_record(score=np.float32(0.25))
    assert load_ok(gt, [rec])[0]["score"] == pytest.approx(0.25)
    with pytest.raises(DataError, match="NaN or infinite"):
        load_ok(gt, [good_record(segmentation=[[1e308, 1e308, 1e308, 5, 9, 9, float("nan"), 1]])])
    # finite but huge: pycocotools would draw a line of ~1e12 points; refused before it sees the polygon
    with pytest.raises(DataError, match="outside the 60x40 image"):
        load_ok(gt, [good_record(segmentation=[[1e12, 1, 5, 5, 9, 9]])])


def load_ok(gt, records):
    from cellseg_nb.eval import validate_results

    return validate_results(records, gt)


def test_masks_to_results_writes_the_model_boxes():
    """A detector's own boxes are written as given (detectron2's convention); without them the mask extent."""
    m = masks()
    boxes = np.array([[4.5, 4.0, 11.0, 12.5], [9.0, 9.5, 12.0, 21.0], [39.0, 29.0, 20.0, 10.0]])
    res = masks_to_results(7, m, [0.3, 0.9, 0.5], boxes=boxes)
    assert [r["bbox"] for r in res] == boxes.tolist()
    assert masks_to_results(7, m, [0.3, 0.9, 0.5])[1]["bbox"] == [10.0, 10.0, 10.0, 20.0]
    with pytest.raises(ValueError, match="3 finite boxes"):
        masks_to_results(7, m, [0.3, 0.9, 0.5], boxes=boxes[:2])
