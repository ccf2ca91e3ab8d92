"""``cellseg-nb predict`` on a folder of anyone's images: 8-bit, 16-bit and RGB files, nested folders,
results keyed by file name, label TIFFs named like the images, the per-image table, output checks
before any work, and 2 gloo ranks that give the single-process result."""

from __future__ import annotations

import csv
import json
import os
import socket

import numpy as np
import pytest
import torch.multiprocessing as mp
from PIL import Image

from cellseg_nb.cli import main
from cellseg_nb.eval.labels import label_image_from_results
from cellseg_nb.train import config_from_dict, train
from _train_helpers import DiscDataset

LIVECELL_NAME = "BV2_Phase_D4_2_01d12h30m_3.tif"  # BV2, well D4, 36.5 h


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A small trained U-Net and a folder of differently encoded images of its disc scenes."""
    root = tmp_path_factory.mktemp("predict_folder")
    data = DiscDataset(4, size=48, flip=False)
    cfg = config_from_dict({"model": {"name": "unet", "kwargs": {"width_mult": 0.125, "widths": [64, 128]}},
                            "steps": 150, "batch_size": 2, "optim": {"lr": 0.01}, "device": "cpu", "amp": "none",
                            "progress": False, "output_dir": str(root / "run")})
    ckpt = train(cfg, train_dataset=data).last_checkpoint
    images = root / "images"
    (images / "nested").mkdir(parents=True)
    grey = [np.clip(image, 0, 255).astype(np.uint8) for image, _ in data.items]
    Image.fromarray(grey[0]).save(images / "plain_8bit.png")
    Image.fromarray(grey[1].astype(np.uint16) * 257).save(images / "nested" / "sixteen_bit.tif")  # full 16-bit range
    Image.fromarray(np.stack([grey[2]] * 3, axis=-1)).save(images / "colour.png")
    Image.fromarray(grey[3]).save(images / "nested" / LIVECELL_NAME)
    files = ["plain_8bit.png", "sixteen_bit.tif", "colour.png", LIVECELL_NAME]
    cells = {name: int(labels.max()) for name, (_, labels) in zip(files, data.items)}
    return root, ckpt, images, {"cells": cells}


def _predict(root, ckpt, images, tag, *extra):
    out, labels, table = root / f"{tag}.json", root / f"{tag}_labels", root / f"{tag}.csv"
    code = main(["predict", "--checkpoint", str(ckpt), "--images", str(images), "--out", str(out), "--labels",
                 str(labels), "--table", str(table), "--no-progress", "--device", "cpu", *extra])
    return code, out, labels, table


def test_folder_gives_json_label_tiffs_and_table(folder):
    root, ckpt, images, grey = folder
    code, out, labels, table = _predict(root, ckpt, images, "one")
    assert code == 0
    names = {"plain_8bit.png", "sixteen_bit.tif", "colour.png", LIVECELL_NAME}
    records = json.loads(out.read_text())
    assert {r["image_id"] for r in records} <= names and len(records) > 0
    assert sorted(p.name for p in labels.iterdir()) == sorted(n.rsplit(".", 1)[0] + ".tif" for n in names)
    # the three re-encodings of a uint8 image give that image's prediction: 16-bit x257 and grey RGB
    # convert back exactly, so each file's instances equal a plain 8-bit copy's (checked on the labels)
    rows = {r["file_name"]: r for r in csv.DictReader(table.open())}
    assert set(rows) == names
    for name in names:
        tif = labels / (name.rsplit(".", 1)[0] + ".tif")
        with Image.open(tif) as im:
            lab = np.array(im)
        assert lab.dtype == np.uint16 and lab.shape == (48, 48)
        mine = [r for r in records if r["image_id"] == name]
        # independent reference: the label image painted from the json records by eval.labels
        assert np.array_equal(lab, label_image_from_results(mine, 48, 48))
        areas = np.bincount(lab.ravel())[1:]
        areas = areas[areas > 0]
        row = rows[name]
        assert int(row["cell_count"]) == len(areas)
        assert float(row["confluence"]) == pytest.approx((lab > 0).mean())
        if len(areas):
            assert float(row["mean_area_px"]) == pytest.approx(areas.mean())
            assert float(row["median_area_px"]) == pytest.approx(np.median(areas))
    # every encoding is read back to its scene, and the model finds each scene's discs
    assert {n: int(rows[n]["cell_count"]) for n in names} == grey["cells"]
    assert (rows[LIVECELL_NAME]["cell_type"], rows[LIVECELL_NAME]["well"],
            float(rows[LIVECELL_NAME]["elapsed_hours"])) == ("BV2", "D4", 36.5)
    assert rows["colour.png"]["cell_type"] == rows["colour.png"]["well"] == ""


def test_score_threshold_and_preprocess(folder):
    root, ckpt, images, _ = folder
    code, out, _, _ = _predict(root, ckpt, images, "thr", "--min-score", "0.9", "--preprocess", "livecell")
    assert code == 0
    assert all(r["score"] >= 0.9 for r in json.loads(out.read_text()))


def test_outputs_and_arguments_checked_before_any_work(folder, tmp_path, capsys):
    root, ckpt, images, _ = folder
    missing_weights = str(tmp_path / "no_such_weights.pth")  # would fail later, if anything ran
    a_folder = tmp_path / "taken"
    a_folder.mkdir()
    assert main(["predict", "--weights", missing_weights, "--images", str(images), "--out", str(a_folder)]) == 2
    assert "--out" in capsys.readouterr().err
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert main(["predict", "--weights", missing_weights, "--images", str(images), "--out", str(tmp_path / "p.json"),
                 "--labels", str(a_file)]) == 2
    assert "--labels" in capsys.readouterr().err
    assert main(["predict", "--weights", missing_weights, "--images", str(images), "--out", str(tmp_path / "p.json"),
                 "--table", str(a_folder)]) == 2
    assert "--table" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["predict", "--checkpoint", str(ckpt), "--images", str(images), "--out", str(tmp_path / "p.json"),
              "--score-threshold", "1.5"])
    assert not (tmp_path / "p.json").exists()


def _rank(rank: int, world: int, port: int, args: list[str], counts: str) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"})
    import torch

    import cellseg_nb.train.predict as predict_module

    torch.set_num_threads(1)
    seen = []
    real = predict_module.model_predictor

    def counting(model, device, **options):  # records which images this rank predicts
        inner = real(model, device, **options)
        return lambda image, source: seen.append(source.file_name) or inner(image, source)

    predict_module.model_predictor = counting
    assert main(args) == 0
    with open(os.path.join(counts, f"rank{rank}.json"), "w") as f:
        json.dump(seen, f)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_shard_and_merge(folder):
    root, ckpt, images, _ = folder
    code, single, single_labels, single_table = _predict(root, ckpt, images, "single")
    assert code == 0
    out, labels, table = root / "ddp.json", root / "ddp_labels", root / "ddp.csv"
    args = ["predict", "--checkpoint", str(ckpt), "--images", str(images), "--out", str(out), "--labels",
            str(labels), "--table", str(table), "--no-progress", "--device", "cpu"]
    mp.spawn(_rank, args=(2, _free_port(), args, str(root)), nprocs=2, join=True)
    shares = [json.loads((root / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [len(s) for s in shares] == [2, 2] and not set(shares[0]) & set(shares[1])  # sharded, no overlap
    assert json.loads(out.read_text()) == json.loads(single.read_text())
    assert sorted(p.name for p in labels.iterdir()) == sorted(p.name for p in single_labels.iterdir())
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(csv.DictReader(table.open())) == strip(csv.DictReader(single_table.open()))


def test_no_convert_refuses_colour_and_16_bit_images_naming_the_file(folder, tmp_path, capsys):
    root, ckpt, images, _ = folder
    code = main(["predict", "--checkpoint", str(ckpt), "--images", str(images / "colour.png"), "--out",
                 str(tmp_path / "p.json"), "--no-convert", "--no-progress", "--device", "cpu"])
    assert code == 2 and "colour.png" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()
