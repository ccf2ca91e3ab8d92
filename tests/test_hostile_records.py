"""Class 1 of issue #12: every record is validated in Python before pycocotools / faster-coco-eval see it.

References are independent of the code under test: pycocotools' own encoder (for the RLE decoder) and
plain pycocotools COCOeval on the user's file (for the bbox-less evaluation).
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from cellseg_nb.data.coco import dataset_from_dict, load_coco
from cellseg_nb.data.records import BOX_TOLERANCE_PX, RleError, decode_rle_counts
from cellseg_nb.errors import DataError
from _coco_reference import mean_defined, reference_arrays

H, W = 40, 60


def test_rle_decoder_matches_pycocotools_encoder():
    rng = np.random.default_rng(7)
    for trial in range(200):
        h, w = (int(v) for v in rng.integers(1, 70, 2))
        mask = (rng.random((h, w)) < rng.random()).astype(np.uint8)
        if trial % 5 == 0:
            mask[:] = trial % 2
        counts = mask_utils.encode(np.asfortranarray(mask))["counts"]
        runs = decode_rle_counts(counts, h, w)
        # runs alternate background/foreground in column-major order
        flat = np.repeat(np.arange(len(runs)) % 2, runs).astype(np.uint8)
        np.testing.assert_array_equal(flat.reshape(w, h).T, mask)
        assert runs.sum() == h * w


def _reference_runs(s: str, h: int, w: int):
    """pycocotools' rleFrString transcribed as a plain loop, plus the stated limits; None when invalid."""
    runs, p = [], 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            if p >= len(s):
                return None                      # cut off mid-value
            c = ord(s[p]) - 48
            if not 0 <= c <= 63:
                return None
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if k > 12:
            return None
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    if not runs or min(runs) < 0 or sum(runs) != h * w:
        return None
    return runs


def test_batch_verdicts_match_a_plain_loop_decoder():
    """Many strings checked in one vectorised pass: valid pycocotools strings mixed with random ones
    (in and out of the alphabet) get the verdict and runs of an independent loop decoder, no cross-talk."""
    from cellseg_nb.data.records import _decode_many

    rng = np.random.default_rng(3)
    strings, sizes = [], []
    for trial in range(400):
        h, w = (int(v) for v in rng.integers(1, 12, 2))
        if trial % 2:
            mask = (rng.random((h, w)) < rng.random()).astype(np.uint8)
            s = mask_utils.encode(np.asfortranarray(mask))["counts"].decode()
        else:
            alphabet = [chr(c) for c in range(44, 116)]          # mostly '0'..'o', a few outside
            s = "".join(rng.choice(alphabet, size=int(rng.integers(0, 8))))
        strings.append(s)
        sizes.append((h, w))
    problems, runs, owner = _decode_many(strings, sizes)
    n_valid = 0
    for i, (s, (h, w)) in enumerate(zip(strings, sizes)):
        expected = _reference_runs(s, h, w)
        assert (problems[i] is None) == (expected is not None), (s, h, w, problems[i])
        if expected is not None:
            n_valid += 1
            assert runs[owner == i].tolist() == expected
    assert n_valid >= 200                                         # the pycocotools half at least


@pytest.mark.parametrize("counts, problem", [
    ("!!!garbage", "character '!'"),
    ("", "empty"),
    ("o", "truncated"),          # 'o' = 63: the "more follows" bit set on the last character
    ("1O", "negative run"),      # second value -1
    ("Q1", "cover 33 pixels"),   # one value, 1 + (1 << 5) = 33, not 100
    ("0" * 13 + "1", "cover"),
    ("ooooooooooooo1", "14 characters"),
    ("é", "non-ASCII"),
])
def test_rle_decoder_refuses_garbage(counts, problem):
    with pytest.raises(RleError, match=problem):
        decode_rle_counts(counts, 10, 10)


def gt_dict(**ann_changes):
    images = [{"id": 1, "width": W, "height": H, "file_name": "BV2_Phase_A4_2_00d00h00m_1.tif"}]
    ann = {"id": 5, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 100.0, "bbox": [5, 5, 10, 10],
           "segmentation": [[5, 5, 15, 5, 15, 15, 5, 15]]}
    ann.update(ann_changes)
    good = {"id": 6, "image_id": 1, "segmentation": [[20, 20, 30, 20, 30, 30]]}
    return {"images": images, "annotations": [ann, good]}


@pytest.mark.parametrize("change, problem", [
    ({"segmentation": {"size": [H, W], "counts": "!!!garbage"}}, "character '!'"),
    ({"segmentation": {"size": [H, W], "counts": "0"}}, "cover 0 pixels"),
    ({"segmentation": {"size": [H, W], "counts": [1, 2]}}, "cover 3 pixels"),
    ({"segmentation": {"size": [H, W], "counts": [H * W + 1, -1]}}, "negative run"),
    ({"segmentation": {"size": [H, W], "counts": 5}}, "must be a string"),
    ({"segmentation": {"size": [H], "counts": "PP"}}, "RLE size must be"),
    ({"segmentation": [[5, 5, 1e12, 5, 15, 15]]}, "outside the 60x40 image"),
    ({"segmentation": [[5, 5, "a", 5, 15, 15]]}, "non-numeric"),
    ({"area": float("nan")}, "finite"),
    ({"area": -1.0}, "finite number >= 0"),
    ({"area": H * W + 1.0}, "exceeds the image"),
    ({"area": "100"}, "must be a number"),
    ({"bbox": [1, 2, 3]}, "four numbers"),
    ({"bbox": [1, 2, float("inf"), 3]}, "NaN or infinite"),
    ({"bbox": [1, 2, -3, 4]}, ">= 0"),
    ({"bbox": [W - 5, 2, 5 + BOX_TOLERANCE_PX + 0.5, 4]}, "outside"),
    ({"bbox": [1, 2, True, 4]}, "four numbers"),
    ({"iscrowd": 2}, "0 or 1"),
    ({"category_id": "cell"}, "category_id"),
    ({"id": 1.5}, "'id' is 1.5"),
    ({"image_id": [1]}, "'image_id'"),
])
def test_bad_ground_truth_records(tmp_path, change, problem):
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt_dict(**change)))
    with pytest.raises(DataError, match=problem) as info:
        load_coco(path)
    assert info.value.file == str(path)
    assert info.value.record is not None and "annotation" in info.value.record
    skipped = load_coco(path, on_error="skip")
    assert len(skipped.annotations) == 1 and len(skipped.skipped) == 1   # the good record stays, one counted skip


@pytest.mark.parametrize("key, value, problem", [
    ("info", "abc", "'info' is a str, expected an object"),         # dict("abc") raised a bare ValueError
    ("licenses", 5, "'licenses' is a int, expected a list"),        # list(5) raised a bare TypeError
    ("categories", "cell", "'categories' is a str"),
    ("categories", [5], r"categories\[0\] is 5"),
])
def test_bad_file_level_fields(tmp_path, key, value, problem):
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(dict(gt_dict(), **{key: value})))
    with pytest.raises(DataError, match=problem) as info:
        load_coco(path, on_error="skip")                            # not a record: never skipped
    assert info.value.file == str(path)


def test_bbox_within_tolerance_is_accepted():
    data = gt_dict(bbox=[-BOX_TOLERANCE_PX, 0, W + BOX_TOLERANCE_PX, H])
    assert len(dataset_from_dict(data).annotations) == 2


def test_garbage_prediction_rle_is_named():
    from cellseg_nb.eval import validate_results

    gt = dataset_from_dict(gt_dict())
    rec = {"image_id": 1, "score": 0.5, "segmentation": {"size": [H, W], "counts": "!!!garbage"}}
    with pytest.raises(DataError, match=r"prediction #0 \(image_id=1\): RLE counts has character") as info:
        validate_results([rec], gt, source="p.json")
    assert info.value.file == "p.json"


def test_mixed_bbox_presence_is_an_error():
    from cellseg_nb.eval import masks_to_results, validate_results

    gt = dataset_from_dict(gt_dict())
    m = np.zeros((2, H, W), bool)
    m[0, 5:15, 5:15] = m[1, 20:30, 20:30] = True
    recs = masks_to_results(1, m, [0.9, 0.8])
    del recs[1]["bbox"]
    with pytest.raises(DataError, match="1 of 2 records carry a bbox"):
        validate_results(recs, gt)


def _pycocotools_summary(gt_data: dict, results: list[dict], image_ids=None) -> dict:
    """Plain pycocotools on the records as given, LIVECell's protocol; AP/AR read at 2000 detections."""
    p, r = reference_arrays(gt_data, results, "segm", image_ids)
    mean = mean_defined

    return {"AP": mean(p[:, :, :, 0, 2]), "AP50": mean(p[0, :, :, 0, 2]), "AP75": mean(p[5, :, :, 0, 2]),
            "APs": mean(p[:, :, :, 1, 2]), "APm": mean(p[:, :, :, 2, 2]), "APl": mean(p[:, :, :, 3, 2]),
            "AR100": mean(r[:, :, 0, 0]), "AR500": mean(r[:, :, 0, 1]), "AR2000": mean(r[:, :, 0, 2])}


def test_bbox_less_detection_gets_its_mask_area():
    """A thin diagonal false positive: mask area small (< 18^2), box 50x30 large. pycocotools on the
    bbox-less file counts it in APs (0.5); adding the mask's extent as bbox would hide it (1.0)."""
    from cellseg_nb.eval import evaluate_instances

    images = [{"id": 1, "width": 80, "height": 60, "file_name": "BV2_Phase_A4_2_00d00h00m_1.tif"}]
    cell = np.zeros((60, 80), np.uint8)
    cell[5:20, 5:20] = 1                                   # 225 px: small
    rle = mask_utils.encode(np.asfortranarray(cell))
    gt_data = {"images": images, "categories": [{"id": 1, "name": "cell"}],
               "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 225.0,
                                "bbox": [5.0, 5.0, 15.0, 15.0],
                                "segmentation": {"size": [60, 80], "counts": rle["counts"].decode()}}]}
    line = np.zeros((60, 80), np.uint8)
    for k in range(50):
        line[25 + (k * 30) // 50, 25 + k] = 1              # ~50 px, box 50 x 30
    results = [{"image_id": 1, "category_id": 1, "score": 0.5,
                "segmentation": {"size": [60, 80], "counts": rle["counts"].decode()}},
               {"image_id": 1, "category_id": 1, "score": 0.9,
                "segmentation": {"size": [60, 80],
                                 "counts": mask_utils.encode(np.asfortranarray(line))["counts"].decode()}}]
    ref = _pycocotools_summary(gt_data, results)
    with_box = [dict(r, bbox=[float(v) for v in mask_utils.toBbox(
        {"size": [60, 80], "counts": r["segmentation"]["counts"].encode()})]) for r in results]
    ref_with_box = _pycocotools_summary(gt_data, with_box)
    assert ref["APs"] == pytest.approx(0.5, abs=0.01) and ref_with_box["APs"] == pytest.approx(1.0)
    for backend in ("faster", "pycocotools"):
        ev = evaluate_instances(dataset_from_dict(gt_data), copy.deepcopy(results), backend=backend)
        for key, value in ref.items():
            assert ev.summary[key] == pytest.approx(value, abs=1e-9, nan_ok=True), (backend, key)


@pytest.mark.slow
def test_cli_on_bbox_less_file_equals_pycocotools(sample_annotations, tmp_path, capsys):
    """`cellseg-nb evaluate` on a bbox-less RLE results file of the real sample: overall and per cell type
    equal plain pycocotools on that file."""
    from cellseg_nb.cli import main
    from cellseg_nb.eval.perturb import PerturbConfig, perturbed_predictions

    gt = load_coco(sample_annotations)
    polys = perturbed_predictions(gt, np.random.default_rng(12), PerturbConfig(jitter_px=1.5, drop=0.1,
                                                                               duplicate=0.1, add=0.15))
    results = []
    for rec in polys:
        img = gt.image(rec["image_id"])
        rle = mask_utils.merge(mask_utils.frPyObjects(rec["segmentation"], img["height"], img["width"]))
        results.append({"image_id": rec["image_id"], "category_id": 1, "score": rec["score"],
                        "segmentation": {"size": list(rle["size"]), "counts": rle["counts"].decode()}})
    path = tmp_path / "pred.json"
    path.write_text(json.dumps(results))
    assert main(["evaluate", "--gt", str(sample_annotations), "--pred", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    gt_data = json.loads(sample_annotations.read_text())
    for key, value in _pycocotools_summary(gt_data, results).items():
        assert out[key] == pytest.approx(value, abs=1e-9), key
    assert len(out["per_cell_type"]) >= 2
    for cell_type, summary in out["per_cell_type"].items():
        ids = [i for i in gt.image_ids if gt.cell_type(i) == cell_type]
        for key, value in _pycocotools_summary(gt_data, results, ids).items():
            got = summary[key]
            if np.isnan(value):
                assert got is None, (cell_type, key)
            else:
                assert got == pytest.approx(value, abs=1e-9), (cell_type, key)


@pytest.mark.parametrize("ann_id", [0, "cell-7", -3])
def test_unusual_annotation_ids_do_not_change_the_numbers(ann_id):
    """COCOeval marks a matched ground truth by its id, 0 meaning "unmatched": a perfect prediction of a
    cell with id 0 would count as a false positive (AP 0 instead of 1), a string id fails in C++."""
    from cellseg_nb.eval import evaluate_instances

    data = gt_dict(id=ann_id)
    gt = dataset_from_dict(data)
    perfect = [{"image_id": 1, "score": 0.9, "segmentation": a["segmentation"]} for a in data["annotations"]]
    for backend in ("faster", "pycocotools"):
        ev = evaluate_instances(gt, perfect, backend=backend)
        assert ev.summary["AP"] == pytest.approx(1.0), backend
        assert ev.summary["F1"] == pytest.approx(1.0), backend


def test_crowd_only_ground_truth_gives_undefined_not_an_exception():
    from cellseg_nb.eval import evaluate_instances

    data = gt_dict(iscrowd=1)
    data["annotations"] = data["annotations"][:1]
    pred = [{"image_id": 1, "score": 0.9, "segmentation": data["annotations"][0]["segmentation"]}]
    ev = evaluate_instances(dataset_from_dict(data), pred)
    assert np.isnan(ev.summary["F1_best"]) and np.isnan(ev.summary["AP"])


@pytest.mark.parametrize("ids", [("a", "b"), (-5, 7), (0, 10**12)])
def test_any_int_or_string_image_ids_evaluate_alike(ids):
    """faster-coco-eval failed on string, negative and huge image ids; the numbers must not depend on them."""
    from cellseg_nb.eval import evaluate_instances

    def with_ids(first, second):
        images = [{"id": first, "width": W, "height": H, "file_name": "BV2_Phase_A4_2_00d00h00m_1.tif"},
                  {"id": second, "width": W, "height": H, "file_name": "MCF7_Phase_B4_2_01d04h00m_3.tif"}]
        cells = [(first, [[5, 5, 15, 5, 15, 15, 5, 15]]), (first, [[20, 20, 30, 20, 30, 30]]),
                 (second, [[30, 5, 50, 5, 50, 30, 30, 30]])]
        anns = [{"id": k + 1, "image_id": i, "segmentation": seg} for k, (i, seg) in enumerate(cells)]
        preds = [{"image_id": i, "score": 0.9 - 0.1 * k, "segmentation": seg} for k, (i, seg) in enumerate(cells[1:])]
        preds.append({"image_id": second, "score": 0.5, "segmentation": [[1, 1, 9, 1, 9, 9, 1, 9]]})
        return dataset_from_dict({"images": images, "annotations": anns}), preds

    reference = evaluate_instances(*with_ids(1, 2))
    for backend in ("faster", "pycocotools"):
        ev = evaluate_instances(*with_ids(*ids), backend=backend)
        for key in ("AP", "AP50", "APs", "APm", "AR100", "F1"):
            assert ev.summary[key] == pytest.approx(reference.summary[key], nan_ok=True), (backend, key)
        assert set(ev.per_cell_type) == set(reference.per_cell_type)
