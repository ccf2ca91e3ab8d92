"""The issue's end-to-end check: a centermask2-format checkpoint (detectron2 names, ``{"model": ...}``)
served by a loopback server is downloaded, loaded strictly and ``cellseg-nb predict --weights`` on a folder of
plain images writes the json, the label TIFFs and the table; the same file with a head's keys renamed is
refused naming keys. (Download, resume and strictness themselves: tests/test_weights_zoo.py.)"""

from __future__ import annotations

import csv
import json

import numpy as np
import torch
from PIL import Image
from pycocotools import mask as mask_utils

from cellseg_nb.cli import main
from cellseg_nb.models.instances import prediction_masks
from test_download import loopback_only  # noqa: F401 (autouse fixture: no network but the loopback server)
from test_weights_zoo import base_url, bucket, coco_source, source, zoo  # noqa: F401 (fixtures)


def _plain_images(folder, n=3, size=96):
    rng = np.random.default_rng(5)
    folder.mkdir()
    images = {}
    for k in range(n):
        image = rng.integers(0, 256, (size, size), dtype=np.uint8)
        name = f"well_{k}.png"
        Image.fromarray(image).save(folder / name)
        images[name] = image
    return images


def test_predict_with_zoo_weights_served_by_loopback(zoo, source, tmp_path, capsys):
    images = _plain_images(tmp_path / "images")
    out, labels, table = tmp_path / "cells.json", tmp_path / "labels", tmp_path / "cells.csv"
    assert main(["predict", "--weights", "test-lite", "--images", str(tmp_path / "images"), "--out", str(out),
                 "--labels", str(labels), "--table", str(table), "--no-progress", "--device", "cpu"]) == 0
    records = json.loads(out.read_text())
    rows = {r["file_name"]: r for r in csv.DictReader(table.open())}
    assert set(rows) == set(images) and sorted(p.name for p in labels.iterdir()) == sorted(
        n.replace(".png", ".tif") for n in images)
    for name, image in images.items():  # the records are the source model's own instances
        with torch.no_grad():
            expected = source(torch.from_numpy(image.astype(np.float32))[None, None])[0]
        dense = prediction_masks(expected["masks"], "dense").numpy()
        mine = [r for r in records if r["image_id"] == name]
        assert len(mine) == len(dense) > 0
        for rec, mask, score in zip(mine, dense, expected["scores"].tolist()):
            assert np.array_equal(mask_utils.decode(rec["segmentation"]).astype(bool), mask)
            assert rec["score"] == score
        with Image.open(labels / name.replace(".png", ".tif")) as im:
            assert np.array(im).dtype == np.uint16
    assert "3 images" in capsys.readouterr().out


def test_predict_refuses_the_renamed_head_naming_keys(zoo, tmp_path, capsys):
    _plain_images(tmp_path / "images", n=1)
    code = main(["predict", "--weights", "test-renamed", "--images", str(tmp_path / "images"), "--out",
                 str(tmp_path / "cells.json"), "--no-progress", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "fcos_head" in err and "cls_" in err, err
    assert not (tmp_path / "cells.json").exists()
