"""Classes 3 and 5 of issue #12, per command: outputs checked before any work, and every user error is one
``cellseg-nb COMMAND: error: ...`` line naming the file, exit status 2, no traceback (unless ``--debug``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cellseg_nb.cli import main
from cellseg_nb.data.images import write_image

W, H = 40, 30
NAME = "A172_Phase_C7_1_00d00h00m_1.tif"


def tiny(root: Path, **ann_changes) -> tuple[Path, Path]:
    """One 40x30 image in the nested layout and a json with one square cell (``ann_changes`` edit it)."""
    images = root / "images"
    write_image(images / "livecell_train_val_images" / "A172" / NAME, np.full((H, W), 128, np.uint8))
    ann = {"id": 10, "image_id": 1, "category_id": 1, "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]]}
    ann.update(ann_changes)
    data = {"images": [{"id": 1, "file_name": NAME, "width": W, "height": H}], "annotations": [ann],
            "categories": [{"id": 1, "name": "cell"}]}
    path = root / "gt.json"
    path.write_text(json.dumps(data))
    return path, images


def one_line_error(capsys, argv: list[str], *must_contain: str) -> str:
    """Run the CLI in-process; it must exit 2 with exactly one stderr line naming what it should."""
    rc = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"cellseg-nb {argv[0]}: error: "), lines[0]
    for text in must_contain:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def argparse_error(capsys, argv: list[str], *must_contain: str) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1, err
    assert err[0].startswith(f"cellseg-nb {argv[0]}: error: ")
    for text in must_contain:
        assert text in err[0], (text, err[0])
    return err[0]


# -- summarize ---------------------------------------------------------------------------------------

def test_summarize_garbage_rle_names_file_and_record(tmp_path, capsys):
    gt, images = tiny(tmp_path, segmentation={"size": [H, W], "counts": "!!!garbage"})
    one_line_error(capsys, ["summarize", "--annotations", str(gt), "--images", str(images)],
                   str(gt), "annotation id=10", "RLE counts")
    argparse_error(capsys, ["summarize", "--annotations", str(tmp_path / "nope.json"), "--images", str(images)],
                   "nope.json", "no such file")


def test_garbage_rle_cannot_hang_a_subprocess(tmp_path):
    """The issue's hang: pycocotools spun forever on this file. Bounded here by a 120 s time-out."""
    gt, images = tiny(tmp_path, segmentation={"size": [H, W], "counts": "!!!garbage"})
    proc = subprocess.run([sys.executable, "-m", "cellseg_nb.cli", "summarize", "--annotations", str(gt),
                           "--images", str(images)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "annotation id=10" in proc.stderr


# -- evaluate ----------------------------------------------------------------------------------------

def test_evaluate_arguments_and_outputs(tmp_path, capsys, monkeypatch):
    gt, _ = tiny(tmp_path)
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([{"image_id": 1, "score": 0.9, "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]]}]))
    argparse_error(capsys, ["evaluate", "--gt", str(gt), "--pred", str(pred), "--score-threshold", "2"],
                   "--score-threshold", "[0, 1]")
    # --per-image pointing at a folder is refused before the evaluation runs
    import cellseg_nb.eval as ev

    def must_not_run(*a, **k):
        raise AssertionError("evaluation ran although --per-image was unusable")

    monkeypatch.setattr(ev, "evaluate_instances", must_not_run)
    one_line_error(capsys, ["evaluate", "--gt", str(gt), "--pred", str(pred), "--per-image", str(tmp_path)],
                   "--per-image", "is a folder")
    monkeypatch.undo()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"image_id": 1, "score": 0.9,
                                "segmentation": {"size": [H, W], "counts": "0000"}}]))
    one_line_error(capsys, ["evaluate", "--gt", str(gt), "--pred", str(bad)], str(bad), "prediction #0",
                   "RLE runs cover")


# -- demo-data ---------------------------------------------------------------------------------------

def test_demo_data_dest_checks(tmp_path, capsys):
    afile = tmp_path / "file"
    afile.write_text("x")
    one_line_error(capsys, ["demo-data", "--dest", str(afile)], str(afile), "not a folder")
    full = tmp_path / "full"
    full.mkdir()
    (full / "thesis.docx").write_text("precious")
    one_line_error(capsys, ["demo-data", "--dest", str(full), "--cell-types", "A172", "--images-per-type", "1"],
                   "--dest", "not empty", "--overwrite")
    assert (full / "thesis.docx").read_text() == "precious"
    argparse_error(capsys, ["demo-data", "--dest", str(tmp_path / "d"), "--images-per-type", "0"], "> 0")
    argparse_error(capsys, ["demo-data", "--dest", str(tmp_path / "d"), "--seed", "-1"], "seed")


# -- download ----------------------------------------------------------------------------------------

def test_download_dest_is_a_file(tmp_path, capsys):
    afile = tmp_path / "file"
    afile.write_text("x")
    one_line_error(capsys, ["download", "livecell", "--dest", str(afile), "--base-url", "http://127.0.0.1:9/"],
                   "--dest", str(afile), "not a folder")
    argparse_error(capsys, ["download", "livecell", "--dest", str(tmp_path), "--timeout", "0"], "--timeout")


def test_weights_download_dest_is_a_file(tmp_path, capsys):
    afile = tmp_path / "file"
    afile.write_text("x")
    one_line_error(capsys, ["weights", "download", "livecell-centermask-v99", "--dest", str(afile)],
                   "--dest", str(afile), "not a folder")


# -- synth -------------------------------------------------------------------------------------------

def test_synth_dest_and_arguments(tmp_path, capsys):
    gt, images = tiny(tmp_path / "src")
    one_line_error(capsys, ["synth", "--annotations", str(gt), "--images", str(images), "--dest",
                            str(tmp_path / "src")], "--dest", "holds the source")
    argparse_error(capsys, ["synth", "--annotations", str(gt), "--images", str(images), "--dest",
                            str(tmp_path / "out"), "--max-overlap", "1.5"], "--max-overlap")
    argparse_error(capsys, ["synth", "--annotations", str(gt), "--images", str(images), "--dest",
                            str(tmp_path / "out"), "--confluence-range", "0.6,0.2"], "LO <= HI")


def test_synth_rgb_source_needs_convert(tmp_path, capsys):
    from PIL import Image

    gt, images = tiny(tmp_path / "src")
    path = images / "livecell_train_val_images" / "A172" / NAME
    Image.fromarray(np.full((H, W, 3), 128, np.uint8)).save(path, format="TIFF")
    one_line_error(capsys, ["synth", "--annotations", str(gt), "--images", str(images), "--dest",
                            str(tmp_path / "out"), "--factor", "1"], str(path), "--convert")
    assert not (tmp_path / "out").exists()


# -- train -------------------------------------------------------------------------------------------

def test_train_config_errors(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("steps: [1,\n")
    one_line_error(capsys, ["train", "--config", str(cfg)], "c.yaml")
    afile = tmp_path / "occupied"
    afile.write_text("x")
    cfg.write_text(f"steps: 1\noutput_dir: {afile}\n")
    one_line_error(capsys, ["train", "--config", str(cfg)], "output_dir", "not a folder")
    argparse_error(capsys, ["train", "--config", str(tmp_path / "missing.yaml")], "missing.yaml")


# -- run ---------------------------------------------------------------------------------------------

def test_run_name_cannot_leave_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "demo.yaml"
    cfg.write_text("name: demo\ndata_root: data\nnotebooks:\n  01_data_overview: {}\n")
    one_line_error(capsys, ["run", "--config", str(cfg), "--name", "../../elsewhere"], "run name", "'..'")
    assert not (tmp_path.parent / "elsewhere").exists() and not (tmp_path / "runs").exists()
    cfg.write_text("name: demo\ndata_root: data\nnotebooks:\n  ../escape: {}\n")
    one_line_error(capsys, ["run", "--config", str(cfg)], "notebook key")


# -- the error path itself -----------------------------------------------------------------------------

def test_debug_shows_the_traceback(tmp_path, capsys):
    gt, images = tiny(tmp_path, area=float("nan"))
    from cellseg_nb.errors import DataError

    with pytest.raises(DataError, match="area"):
        main(["summarize", "--annotations", str(gt), "--images", str(images), "--debug"])


def test_os_errors_are_one_line(tmp_path, capsys, monkeypatch):
    """An OSError from deep inside (here: the disk fills while writing --per-image) names its file."""
    gt, _ = tiny(tmp_path)
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([{"image_id": 1, "score": 0.9, "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]]}]))
    import cellseg_nb.atomic as atomic

    def full_disk(dest, data):
        raise OSError(28, "No space left on device", str(dest))

    monkeypatch.setattr(atomic, "atomic_write_bytes", full_disk)
    one_line_error(capsys, ["evaluate", "--gt", str(gt), "--pred", str(pred), "--per-image",
                            str(tmp_path / "x.csv")], "x.csv", "No space left")


# -- --convert: the stated rule, hand-computed --------------------------------------------------------

def test_convert_rule_hand_values(tmp_path):
    from PIL import Image

    from cellseg_nb.data.images import CONVERT_ENV, image_conversion, read_image
    from cellseg_nb.errors import DataError

    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    Image.fromarray(rgb).save(tmp_path / "rgb.tif")
    Image.fromarray(np.full((4, 5), 40000, np.uint16)).save(tmp_path / "u16.tif")
    for name in ("rgb.tif", "u16.tif"):
        with pytest.raises(DataError, match="--convert"):
            read_image(tmp_path / name)
    # luminance 0.299 R + 0.587 G + 0.114 B = 124.2 -> 124; 16-bit by the type's range: 40000 / 257 = 155.6 -> 156
    assert np.all(read_image(tmp_path / "rgb.tif", convert=True) == 124)
    assert np.all(read_image(tmp_path / "u16.tif", convert=True) == 156)
    before = os.environ.get(CONVERT_ENV)
    with image_conversion(True):
        assert np.all(read_image(tmp_path / "u16.tif") == 156)     # what --convert switches on for a command
    assert os.environ.get(CONVERT_ENV) == before
