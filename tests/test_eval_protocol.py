"""COCO numbers under LIVECell's protocol equal pycocotools' own arrays, computed here independently.

The reference is plain pycocotools COCOeval with useCats=0, default IoU thresholds, maxDets
[100, 500, 2000] and areas [[0, 1e10], [0, 324], [324, 961], [961, 1e10]]; AP/AR are read from
eval['precision'] / eval['recall'] at the 2000-detection index (mean over entries > -1).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cellseg_nb.data.coco import load_coco
from cellseg_nb.eval import evaluate_instances
from cellseg_nb.eval.perturb import PerturbConfig, perturbed_predictions

from _coco_reference import mean_defined, reference_arrays  # noqa: E402


def reference_summary(precision, recall):
    ref = {
        "AP": mean_defined(precision[:, :, :, 0, 2]),
        "AP50": mean_defined(precision[0, :, :, 0, 2]),
        "AP75": mean_defined(precision[5, :, :, 0, 2]),
        "APs": mean_defined(precision[:, :, :, 1, 2]),
        "APm": mean_defined(precision[:, :, :, 2, 2]),
        "APl": mean_defined(precision[:, :, :, 3, 2]),
        "AR100": mean_defined(recall[:, :, 0, 0]),
        "AR500": mean_defined(recall[:, :, 0, 1]),
        "AR2000": mean_defined(recall[:, :, 0, 2]),
    }
    ref["AFNR"] = 1 - ref["AR2000"]
    return ref


@pytest.fixture(scope="module")
def randomized(sample_annotations, tmp_path_factory):
    """Seeded predictions over the real sample: jittered, dropped, duplicated and added polygons,
    stored as RLE results (what models write) plus pycocotools' reference arrays."""
    from cellseg_nb.eval.predictions import validate_results

    gt = load_coco(sample_annotations)
    rng = np.random.default_rng(1234)
    preds = perturbed_predictions(gt, rng, PerturbConfig(jitter_px=1.5, drop=0.15, duplicate=0.1, add=0.1))
    results = validate_results(preds, gt)           # polygons -> RLE with str counts, bbox
    precision, recall = reference_arrays(sample_annotations, results)
    return gt, results, precision, recall


@pytest.fixture(scope="module")
def evaluations(randomized):
    gt, results, _, _ = randomized
    return {backend: evaluate_instances(gt, results, backend=backend) for backend in ("faster", "pycocotools")}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["faster", "pycocotools"])
def test_summary_equals_pycocotools_arrays(randomized, evaluations, backend):
    gt, results, precision, recall = randomized
    ev = evaluations[backend]
    ref = reference_summary(precision, recall)
    for key, value in ref.items():
        assert ev.summary[key] == pytest.approx(value, abs=1e-6), key
    # the protocol matters: AP at 100 detections (what stock summarize() prints) is much lower here
    assert mean_defined(precision[:, :, :, 0, 0]) < ev.summary["AP"] - 0.05


def test_faster_backend_arrays_equal_pycocotools(randomized):
    from cellseg_nb.eval.protocol import coco_arrays, gt_for_cocoeval

    gt, results, precision, recall = randomized
    arrays = coco_arrays(gt_for_cocoeval(gt.to_dict()), results, backend="faster")["all"]
    # same undefined (-1) entries, values equal up to floating-point rounding of the accumulation
    np.testing.assert_array_equal(arrays.precision == -1, precision == -1)
    np.testing.assert_array_equal(arrays.recall == -1, recall == -1)
    np.testing.assert_allclose(arrays.precision, precision, rtol=0, atol=1e-12)
    np.testing.assert_allclose(arrays.recall, recall, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_per_cell_type_equals_pycocotools_on_that_subset(randomized, evaluations, sample_annotations):
    gt, results, _, _ = randomized
    ev = evaluations["pycocotools"]
    assert set(ev.per_cell_type) == {gt.cell_type(i) for i in gt.image_ids}
    for cell_type, summary in ev.per_cell_type.items():
        ids = [i for i in gt.image_ids if gt.cell_type(i) == cell_type]
        p, r = reference_arrays(sample_annotations, results, image_ids=ids)
        for key, value in reference_summary(p, r).items():
            assert summary[key] == pytest.approx(value, abs=1e-6, nan_ok=True), (cell_type, key)
    faster = evaluations["faster"]
    for cell_type, summary in faster.per_cell_type.items():
        for key in reference_summary(*randomized[2:]):
            assert summary[key] == pytest.approx(ev.per_cell_type[cell_type][key], abs=1e-12, nan_ok=True)


@pytest.mark.slow
def test_box_ap_equals_pycocotools(randomized, sample_annotations):
    gt, results, _, _ = randomized
    precision, recall = reference_arrays(sample_annotations, results, iou_type="bbox")
    ev = evaluate_instances(gt, results, iou_type="bbox")
    for key, value in reference_summary(precision, recall).items():
        assert ev.summary[key] == pytest.approx(value, abs=1e-6), key


def test_perfect_predictions_score_one(sample_annotations):
    gt = load_coco(sample_annotations)
    results = [{"image_id": a["image_id"], "segmentation": a["segmentation"], "score": 1.0, "category_id": 1}
               for a in gt.annotations]
    ev = evaluate_instances(gt, results)
    assert ev.summary["AP"] == pytest.approx(1.0)
    assert ev.summary["AP50"] == pytest.approx(1.0)
    assert ev.summary["AFNR"] == pytest.approx(0.0, abs=1e-12)
    assert ev.summary["AR2000"] == pytest.approx(1.0)
    assert ev.summary["F1"] == pytest.approx(1.0)
    assert ev.summary["mSA"] == pytest.approx(1.0)
    assert ev.summary["pixel_F1_pooled"] == pytest.approx(1.0)
    for summary in ev.per_cell_type.values():
        assert summary["AP"] == pytest.approx(1.0) and summary["AFNR"] == pytest.approx(0.0, abs=1e-12)
    # the 711-cell MCF7 image is more crowded than 500 detections: AR at 500 is below 1
    assert ev.summary["AR500"] < 1.0


def test_results_json_path_and_dict_form_ground_truth(randomized, sample_annotations, tmp_path):
    """A results file on disk and a single-cell-type style gt (annotations keyed by id) give the same AP."""
    from cellseg_nb.eval import save_results

    gt, results, precision, _ = randomized
    pred_path = save_results(tmp_path / "pred.json", results)
    data = json.loads(sample_annotations.read_text())
    data["annotations"] = {str(a["id"]): a for a in data["annotations"]}
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(data))
    ev = evaluate_instances(gt_path, pred_path)
    assert ev.summary["AP"] == pytest.approx(mean_defined(precision[:, :, :, 0, 2]), abs=1e-6)
