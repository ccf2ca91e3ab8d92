"""``cellseg-nb train`` and ``cellseg-nb predict`` end to end on a tiny in-test dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from cellseg_nb.cli import main
from cellseg_nb.data.images import write_image
from cellseg_nb.train import build_model_from_checkpoint, config_from_dict, train
from _train_helpers import DiscDataset, disc_gt


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    data = DiscDataset(4, flip=False)
    gt = disc_gt(data)
    images = root / "images"
    for img, (image, _) in zip(gt.images, data.items):
        write_image(images / img["file_name"], np.clip(image, 0, 255).astype(np.uint8))
    gt_path = root / "gt.json"
    gt_path.write_text(json.dumps({"images": gt.images, "annotations": gt.annotations,
                                   "categories": gt.categories}))
    cfg = config_from_dict({"model": {"name": "ensemble", "kwargs": {"cell_types": ["A172", "BV2"],
                                                                       "width_mult": 0.0625, "widths": [64, 128]}},
                            "steps": 40, "batch_size": 2, "optim": {"lr": 0.02}, "device": "cpu", "amp": "none", "progress": False,
                            "output_dir": str(root / "run")})
    res = train(cfg, train_dataset=data)
    return root, gt_path, images, res.last_checkpoint


def test_predict_with_annotations_is_readable_by_evaluate(trained, capsys):
    root, gt_path, images, ckpt = trained
    out = root / "pred.json"
    assert main(["predict", "--checkpoint", str(ckpt), "--annotations", str(gt_path), "--images", str(images),
                 "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    records = json.loads(out.read_text())
    # the file holds exactly the model's instances, routed by the cell type in each file name
    model = build_model_from_checkpoint(ckpt).eval()
    gt = json.loads(gt_path.read_text())
    from cellseg_nb.data.images import read_image

    expected = 0
    for img in gt["images"]:
        x = torch.from_numpy(read_image(images / img["file_name"]).astype(np.float32))[None, None]
        ct = img["file_name"].split("_")[0]
        o = model(x, cell_types=[ct])[0]
        mine = [r for r in records if r["image_id"] == img["id"]]
        assert len(mine) == o["masks"].shape[0]
        for r, m, s in zip(mine, o["masks"], o["scores"]):
            assert np.array_equal(mask_utils.decode(r["segmentation"]).astype(bool), m.numpy())
            assert r["score"] == pytest.approx(float(s))
        expected += len(mine)
    assert expected == len(records) > 0
    assert main(["evaluate", "--gt", str(gt_path), "--pred", str(out), "--json"]) == 0
    assert "AP" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_predict_folder_keys_by_file_name_and_writes_labels(trained):
    root, _, images, ckpt = trained
    out, labels = root / "folder.json", root / "labels"
    assert main(["predict", "--checkpoint", str(ckpt), "--images", str(images), "--out", str(out),
                 "--labels", str(labels), "--no-progress"]) == 0
    names = sorted(p.name for p in images.iterdir())
    assert sorted(p.name for p in labels.iterdir()) == names
    assert {r["image_id"] for r in json.loads(out.read_text())} <= set(names)


def test_train_command_with_config_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: unet}\nsteps: 1\n")
    # no data section: a clear config error naming the keys, exit code 2
    assert main(["train", "--config", str(cfg), "--set", "output_dir=" + str(tmp_path / "o")]) == 2
    assert main(["train", "--config", str(cfg), "--set", "stepz=3"]) == 2
