"""``cellseg-nb evaluate``: the --json contract, the readable table, label folders and error exits."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from cellseg_nb.cli import main
from cellseg_nb.data.coco import load_coco
from cellseg_nb.eval import evaluate_instances, save_results
from cellseg_nb.eval.perturb import perturbed_predictions
from cellseg_nb.eval.predictions import validate_results

KEYS = {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR100", "AR500", "AR2000", "AFNR", "precision", "recall", "F1"}


@pytest.fixture(scope="module")
def pred_file(sample_annotations, tmp_path_factory):
    gt = load_coco(sample_annotations)
    results = validate_results(perturbed_predictions(gt, np.random.default_rng(3)), gt)
    return save_results(tmp_path_factory.mktemp("cli") / "pred.json", results), gt, results


def test_json_output(sample_annotations, pred_file, capsys):
    path, gt, results = pred_file
    assert main(["evaluate", "--gt", str(sample_annotations), "--pred", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == KEYS | {"per_cell_type"}
    assert set(out["per_cell_type"]) == {gt.cell_type(i) for i in gt.image_ids}
    overall = {k: v for k, v in out.items() if k != "per_cell_type"}
    for summary in [overall, *out["per_cell_type"].values()]:
        assert set(summary) == KEYS
        assert all(v is None or 0.0 <= v <= 1.0 for v in summary.values())
    expected = evaluate_instances(gt, results).summary
    for key in KEYS:
        assert out[key] == pytest.approx(expected[key])


def test_box_json_and_text_table(sample_annotations, pred_file, capsys):
    path, gt, results = pred_file
    assert main(["evaluate", "--gt", str(sample_annotations), "--pred", str(path), "--iou-type", "bbox",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["AP"] == pytest.approx(evaluate_instances(gt, results, iou_type="bbox").summary["AP"])
    assert main(["evaluate", "--gt", str(sample_annotations), "--pred", str(path)]) == 0
    text = capsys.readouterr().out
    assert "LIVECell" in text and "BT-474" in text and "AFNR" in text and "2000 detections" in text


def test_label_folder_and_per_image_csv(sample_annotations, pred_file, tmp_path, capsys):
    from cellseg_nb.eval.labels import write_label_tiffs

    _, gt, results = pred_file
    write_label_tiffs(results, gt, tmp_path / "labels")
    csv = tmp_path / "per_image.csv"
    assert main(["evaluate", "--gt", str(sample_annotations), "--pred", str(tmp_path / "labels"), "--json",
                 "--per-image", str(csv)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0.0 < out["AP"] <= 1.0
    assert len(csv.read_text().strip().splitlines()) == 1 + len(gt.images)


def test_errors_exit_2_and_name_the_file(sample_annotations, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"image_id": 1,')
    assert main(["evaluate", "--gt", str(sample_annotations), "--pred", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "not valid JSON" in err


def test_console_entry_point(sample_annotations, pred_file):
    path, _, _ = pred_file
    proc = subprocess.run([sys.executable, "-m", "cellseg_nb.cli", "evaluate", "--gt", str(sample_annotations),
                           "--pred", str(path), "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)) == KEYS | {"per_cell_type"}
