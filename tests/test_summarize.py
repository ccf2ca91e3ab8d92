"""`cellseg-nb summarize` against counts computed directly with pycocotools."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

from cellseg_nb.cli import main


def test_summarize_json_matches_pycocotools(sample_annotations: Path, sample_images: Path, capsys) -> None:
    assert main(["summarize", "--annotations", str(sample_annotations), "--images", str(sample_images), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    ref = COCO(str(sample_annotations))
    assert result["images"] == 5 and result["annotations"] == 1243 and "skipped" not in result
    by_type: dict = {}
    for image_id, img in ref.imgs.items():
        masks = [ref.annToMask(a).astype(bool) for a in ref.loadAnns(ref.getAnnIds(imgIds=[image_id]))]
        entry = by_type.setdefault(img["file_name"].split("_")[0], {"images": 0, "areas": [], "conf": []})
        entry["images"] += 1
        entry["areas"] += [m.sum() for m in masks]
        entry["conf"].append(np.logical_or.reduce(masks).sum() / (img["width"] * img["height"]))
    assert set(result["per_cell_type"]) == set(by_type)
    for name, e in by_type.items():
        got = result["per_cell_type"][name]
        assert got["images"] == e["images"] and got["cells"] == len(e["areas"])
        assert got["mean_cells_per_image"] == pytest.approx(len(e["areas"]) / e["images"])
        assert got["mean_cell_area"] == pytest.approx(np.mean(e["areas"]))
        assert got["mean_confluence"] == pytest.approx(np.mean(e["conf"]))


def test_summarize_skip_bad_records_and_table(sample_annotations: Path, sample_images: Path, tmp_path: Path,
                                              capsys) -> None:
    data = json.loads(sample_annotations.read_text())
    data["annotations"][0]["segmentation"] = [[1.0, 2.0, 3.0, 4.0]]
    data["images"].append({"id": 999999, "file_name": "A172_Phase_C7_1_00d00h00m_9.tif", "width": 704, "height": 520})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    args = ["summarize", "--annotations", str(bad), "--images", str(sample_images)]
    assert main(args + ["--json"]) != 0
    err = capsys.readouterr().err
    assert str(bad) in err and "annotation id=" in err and "at least 3" in err
    assert main(args + ["--json", "--skip-bad-records"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["skipped"] == 2 and result["annotations"] == 1242 and result["images"] == 5
    assert main(args + ["--skip-bad-records"]) == 0
    out = capsys.readouterr().out
    assert "MCF7" in out and "confluence" in out
