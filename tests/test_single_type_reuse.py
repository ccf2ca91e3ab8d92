"""Notebook 08's LIVECell-wide predictions of a line's images come from the run's predictions file when it
covers them and is newer than the checkpoint (03/04 predicted them with it); otherwise they are made."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import cellseg_nb.train.predict as predict_module
from cellseg_nb.data.coco import dataset_from_dict
from cellseg_nb.data.splits import SplitData
from cellseg_nb.pipeline.single_type import wide_predictions

RLE = {"size": [8, 8], "counts": "b035000f0"}  # a 3 x 3 square in an 8 x 8 image (pycocotools)


def tiny_run(tmp_path: Path, covered: list[int]) -> tuple[Path, SplitData]:
    images = [{"id": i, "file_name": f"SHSY5Y_Phase_A1_1_00d0{i}h00m_1.tif", "width": 8, "height": 8}
              for i in (1, 2)]
    anns = [{"id": i, "image_id": i, "category_id": 1, "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]]} for i in (1, 2)]
    data = SplitData(dataset_from_dict({"images": images, "annotations": anns, "categories": [{"id": 1}]}),
                     tmp_path / "test.json", tmp_path / "images")
    run = tmp_path / "run"
    ckpt = run / "models" / "unet" / "checkpoints" / "step_00000010.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"not read")
    made = run / "predictions" / "unet.json"
    made.parent.mkdir(parents=True)
    records = [{"image_id": i, "category_id": 1, "segmentation": RLE, "score": 0.25 * i} for i in covered + [99]]
    made.write_text(json.dumps(records))
    os.utime(ckpt, (1_000, 1_000))  # the predictions are newer than the checkpoint
    return run, data


def test_run_predictions_that_cover_the_line_are_reused(tmp_path, monkeypatch):
    run, data = tiny_run(tmp_path, covered=[1, 2])
    monkeypatch.setattr(predict_module, "predict_dataset", lambda *a, **k: pytest.fail("predicted again"))
    got = wide_predictions(run, data, ["unet"], device="cpu")["unet"]
    assert sorted((r["image_id"], r["score"]) for r in got) == [(1, 0.25), (2, 0.5)]  # image 99 is not the line's
    assert not (run / "predictions" / "single_type").exists()


@pytest.mark.parametrize("case", ["missing image", "older than checkpoint"])
def test_predictions_are_made_when_the_file_does_not_cover_or_is_stale(tmp_path, monkeypatch, case):
    run, data = tiny_run(tmp_path, covered=[1] if case == "missing image" else [1, 2])
    if case == "older than checkpoint":
        ckpt = next((run / "models" / "unet" / "checkpoints").glob("*.pt"))
        os.utime(run / "predictions" / "unet.json", (500, 500))
        os.utime(ckpt, (1_000, 1_000))
    calls = []

    def fake_predict(checkpoint, dataset, image_root, dest, **kwargs):
        calls.append((Path(checkpoint).name, sorted(dataset.image_ids), Path(dest).name))
        return [{"image_id": 1, "category_id": 1, "segmentation": RLE, "score": 0.9}]

    monkeypatch.setattr(predict_module, "predict_dataset", fake_predict)
    got = wide_predictions(run, data, ["unet"], device="cpu")["unet"]
    assert calls == [("step_00000010.pt", [1, 2], "unet_wide_SHSY5Y.json")]
    assert [r["score"] for r in got] == [0.9]
