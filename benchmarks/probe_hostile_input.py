"""Hostile-input probe (issue #12): feed bad inputs to every subcommand and the Python API, each in its own
subprocess with a time-out, and write the table of expected vs observed into docs/reliability.md.

Usage (from the repository root; about five minutes on one CPU core)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/probe_hostile_input.py            # rewrite the table
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/probe_hostile_input.py --only S   # ids starting with S
    .venv/bin/python benchmarks/probe_hostile_input.py --no-write --jobs 2

A probe passes when, for a command line, the exit status is the expected one (2 for a user error) and a
user error is exactly one ``cellseg-nb COMMAND: error: ...`` line on stderr holding every expected
fragment (file, record, problem); for the Python API, when the snippet raises the expected error with
those fragments (or returns what it should). A probe fails on a hang (time-out), any traceback, a
multi-line or unnamed error, or an input accepted silently. Workspace paths show as ``WS`` in the table.
Nothing is downloaded: the one network probe points at a closed loopback port.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DOC = REPO / "docs" / "reliability.md"
START, END = "<!-- probe-table:start -->", "<!-- probe-table:end -->"
W, H = 64, 48
NAMES = ["A172_Phase_C7_1_00d00h00m_1.tif", "BV2_Phase_A4_2_00d04h00m_2.tif"]


@dataclass
class Probe:
    """One bad input. ``argv`` (a command line) or ``code`` (Python, printing ``RAISED Type: msg`` or
    ``RETURNED ...`` via ``probe()``); ``needles`` must all appear (``a|b``: either); ``rc`` is the
    expected exit status (CLI) and ``raises`` the expected exception name(s) (API; ``None``: returns)."""

    id: str
    surface: str
    bad: str
    expected: str
    argv: list | None = None
    code: str | None = None
    rc: int = 2
    needles: tuple = ()
    raises: tuple | None = ("DataError",)
    timeout: float = 60.0
    owner: str = ""


# -- the workspace ------------------------------------------------------------------------------------

def _square(x0, y0, x1, y1):
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def base_gt() -> dict:
    return {"images": [{"id": i + 1, "file_name": n, "width": W, "height": H} for i, n in enumerate(NAMES)],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                             "segmentation": _square(2, 2, 14, 14), "area": 144.0, "bbox": [2, 2, 12, 12]},
                            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": _square(30, 10, 50, 30)},
                            {"id": 3, "image_id": 2, "category_id": 1, "segmentation": _square(5, 5, 25, 20)}],
            "categories": [{"id": 1, "name": "cell", "supercategory": "cell"}]}


def _ann(**changes):
    def mutate(d):
        d["annotations"][0].update(changes)
    return mutate


def _img(**changes):
    def mutate(d):
        d["images"][0].update(changes)
    return mutate


GT_VARIANTS = {  # name -> (mutation, what is bad, record the error must name)
    "rle_garbage": (_ann(segmentation={"size": [H, W], "counts": "!!!garbage"}), "RLE counts '!!!garbage'"),
    "rle_empty": (_ann(segmentation={"size": [H, W], "counts": ""}), "RLE counts ''"),
    "rle_truncated": (_ann(segmentation={"size": [H, W], "counts": "0o"}), "RLE counts cut mid-value"),
    "rle_negative": (_ann(segmentation={"size": [H, W], "counts": "1O"}), "RLE decoding to a negative run"),
    "rle_short": (_ann(segmentation={"size": [H, W], "counts": "21"}), "RLE runs not summing to h*w"),
    "rle_size": (_ann(segmentation={"size": [H + 1, W], "counts": "PP"}), "RLE size differs from image"),
    "rle_size_str": (_ann(segmentation={"size": "abc", "counts": "PP"}), "RLE size a string"),
    "rle_list_neg": (_ann(segmentation={"size": [H, W], "counts": [H * W + 5, -5]}), "uncompressed RLE, negative run"),
    "rle_counts_int": (_ann(segmentation={"size": [H, W], "counts": 7}), "RLE counts a number"),
    "rle_long_value": (_ann(segmentation={"size": [H, W], "counts": "o" * 40 + "1"}), "RLE value of 41 characters"),
    "area_nan": (_ann(area=float("nan")), "area NaN"),
    "area_inf": (_ann(area=float("inf")), "area Infinity"),
    "area_negative": (_ann(area=-5.0), "area -5"),
    "area_huge": (_ann(area=1e9), "area larger than the image"),
    "area_string": (_ann(area="144"), "area a string"),
    "bbox_three": (_ann(bbox=[1, 2, 3]), "bbox of 3 numbers"),
    "bbox_nan": (_ann(bbox=[1, 2, float("nan"), 3]), "bbox with NaN"),
    "bbox_negative": (_ann(bbox=[1, 2, -3, 4]), "bbox negative width"),
    "bbox_outside": (_ann(bbox=[500, 2, 10, 10]), "bbox outside the image"),
    "bbox_bool": (_ann(bbox=[1, 2, True, 4]), "bbox holding a bool"),
    "bbox_string": (_ann(bbox="1,2,3,4"), "bbox a string"),
    "poly_huge": (_ann(segmentation=[[1e12, 1, 5, 5, 9, 9]]), "polygon coordinate 1e12"),
    "poly_odd": (_ann(segmentation=[[1, 2, 3, 4, 5]]), "polygon of 5 numbers"),
    "poly_text": (_ann(segmentation=[[1, 2, "a", 4, 5, 6]]), "polygon with a string"),
    "poly_nan": (_ann(segmentation=[[1, 2, float("nan"), 4, 5, 6]]), "polygon with NaN"),
    "seg_empty": (_ann(segmentation=[]), "empty segmentation"),
    "seg_missing": (lambda d: d["annotations"][0].pop("segmentation"), "no segmentation key"),
    "iscrowd_2": (_ann(iscrowd=2), "iscrowd 2"),
    "category_text": (_ann(category_id="cell"), "category_id a string"),
    "id_float": (_ann(id=1.5), "annotation id 1.5"),
    "image_id_list": (_ann(image_id=[1]), "image_id a list"),
    "image_id_unknown": (_ann(image_id=99), "image_id without image"),
    "dup_ann_id": (lambda d: d["annotations"][1].update(id=1), "duplicate annotation id"),
    "width_zero": (_img(width=0), "image width 0"),
    "width_huge": (_img(width=10 ** 9), "image width 1e9"),
    "height_text": (_img(height="48"), "image height a string"),
    "name_traversal": (_img(file_name="../../etc/passwd"), "file_name ../../etc/passwd"),
    "name_absolute": (_img(file_name="/etc/passwd"), "absolute file_name"),
    "dup_image_id": (lambda d: d["images"][1].update(id=1), "duplicate image id"),
    "missing_image": (_img(file_name="A172_Phase_C7_1_00d00h00m_9.tif"), "image file that does not exist"),
}

PRED_VARIANTS = {  # name -> (mutation of record 0, what is bad)
    "garbage": ({"segmentation": {"size": [H, W], "counts": "!!!garbage"}}, "RLE counts '!!!garbage'"),
    "short": ({"segmentation": {"size": [H, W], "counts": "21"}}, "RLE runs not summing to h*w"),
    "size": ({"segmentation": {"size": [H, W + 1], "counts": "PP"}}, "mask size differs from image"),
    "score_nan": ({"score": float("nan")}, "score NaN"),
    "score_big": ({"score": 1.5}, "score 1.5"),
    "score_text": ({"score": "high"}, "score a string"),
    "image_unknown": ({"image_id": 99}, "unknown image_id"),
    "bbox_three": ({"bbox": [1, 2, 3]}, "bbox of 3 numbers"),
    "bbox_nan": ({"bbox": [1, 2, float("nan"), 3]}, "bbox with NaN"),
    "poly_huge": ({"segmentation": [[1e12, 1, 5, 5, 9, 9]]}, "polygon coordinate 1e12"),
    "category_text": ({"category_id": "cell"}, "category_id a string"),
}


def build_workspace(ws: Path) -> None:
    """Tiny dataset, its variants, predictions, demo data, configs and a trained 1-step checkpoint."""
    import numpy as np
    from PIL import Image
    from pycocotools import mask as mask_utils

    from cellseg_nb.data.images import write_image
    from cellseg_nb.demo import generate_demo_dataset

    images = ws / "images"
    for name in NAMES:
        write_image(images / "livecell_train_val_images" / name.split("_")[0] / name, np.full((H, W), 128, np.uint8))
    gt = base_gt()
    (ws / "gt.json").write_text(json.dumps(gt))
    for name, (mutate, _) in GT_VARIANTS.items():
        data = copy.deepcopy(gt)
        mutate(data)
        (ws / f"gt_{name}.json").write_text(json.dumps(data, allow_nan=True))
    (ws / "gt_truncated.json").write_text(json.dumps(gt)[:-40])
    (ws / "gt_list.json").write_text("[1, 2, 3]")
    (ws / "gt_latin1.json").write_bytes(b'{"images": "caf\xe9"}')
    (ws / "gt_empty.json").write_text("")
    (ws / "gt_annotations_text.json").write_text(json.dumps(dict(gt, annotations="none")))
    (ws / "gt_info_text.json").write_text(json.dumps(dict(gt, info="abc")))
    (ws / "gt_licenses_number.json").write_text(json.dumps(dict(gt, licenses=5)))
    (ws / "gt_categories_text.json").write_text(json.dumps(dict(gt, categories="cell")))
    (ws / "gt_category_item.json").write_text(json.dumps(dict(gt, categories=[5])))
    # predictions: RLE masks of the ground truth, no bbox (what a user's model may write)
    recs = []
    for ann in gt["annotations"]:
        rle = mask_utils.merge(mask_utils.frPyObjects(ann["segmentation"], H, W))
        recs.append({"image_id": ann["image_id"], "category_id": 1, "score": 0.9,
                     "segmentation": {"size": [H, W], "counts": rle["counts"].decode()}})
    (ws / "pred.json").write_text(json.dumps(recs))
    for name, (change, _) in PRED_VARIANTS.items():
        bad = copy.deepcopy(recs)
        bad[0].update(change)
        (ws / f"pred_{name}.json").write_text(json.dumps(bad, allow_nan=True))
    mixed = copy.deepcopy(recs)
    mixed[0]["bbox"] = [2.0, 2.0, 12.0, 12.0]
    (ws / "pred_mixed_bbox.json").write_text(json.dumps(mixed))
    (ws / "pred_empty_list.json").write_text("[]")
    (ws / "pred_empty.json").write_text("")
    (ws / "pred_truncated.json").write_text(json.dumps(recs)[:-30])
    (ws / "pred_dict.json").write_text(json.dumps({"results": recs}))
    labels = ws / "labels_bad"
    labels.mkdir()
    (labels / NAMES[0]).write_bytes(b"II*\x00garbage that is no TIFF")
    # files of the wrong kind and a folder of someone else's work
    (ws / "a_file").write_text("x")
    (ws / "foreign").mkdir()
    (ws / "foreign" / "thesis.docx").write_text("precious")
    (ws / "corrupt.tif").write_bytes(os.urandom(2000))
    Image.fromarray(np.full((H, W, 3), 128, np.uint8)).save(ws / "rgb.tif")
    Image.fromarray(np.full((H, W), 40000, np.uint16)).save(ws / "u16.tif")
    Image.new("1", (15000, 15000)).save(ws / "bomb.png")
    # demo data (704x520) for synth, train, run and predict, plus an RGB copy of its images
    demo = ws / "demo"
    generate_demo_dataset(demo, images_per_type=1, seed=0, cell_types=["A172"])
    rgb_demo = ws / "demo_rgb"
    for src in (demo / "images").rglob("*.tif"):
        dst = rgb_demo / "images" / src.relative_to(demo / "images")
        dst.parent.mkdir(parents=True, exist_ok=True)
        Image.open(src).convert("RGB").save(dst)
    ann_dir = demo / "annotations" / "LIVECell"
    train_cfg = {"model": {"name": "unet", "kwargs": {"width_mult": 0.0625, "widths": [64, 128, 256]}},
                 "data": {"train_annotations": str(ann_dir / "livecell_coco_train.json"),
                          "images": str(demo / "images"), "crop_size": 64, "augment": False},
                 "optim": {"name": "sgd", "lr": 0.01}, "steps": 2, "batch_size": 1, "checkpoint_every": 2,
                 "log_every": 1, "device": "cpu", "amp": "none", "progress": False,
                 "output_dir": str(ws / "train_out")}
    (ws / "train.yaml").write_text(json.dumps(train_cfg))
    (ws / "train_rgb.yaml").write_text(json.dumps(dict(train_cfg, data=dict(train_cfg["data"],
                                       images=str(rgb_demo / "images")), output_dir=str(ws / "train_rgb"))))
    (ws / "train_outfile.yaml").write_text(json.dumps(dict(train_cfg, output_dir=str(ws / "a_file"))))
    (ws / "train_noann.yaml").write_text(json.dumps(dict(train_cfg, data=dict(
        train_cfg["data"], train_annotations=str(ws / "nope.json")), output_dir=str(ws / "train_noann"))))
    (ws / "bad.yaml").write_text("steps: [1,\n  model: {")
    (ws / "list.yaml").write_text("- 1\n- 2\n")
    from cellseg_nb.train import config_from_dict, train
    result = train(config_from_dict(dict(train_cfg, output_dir=str(ws / "ckpt_run"))))
    import torch
    ckpt = torch.load(result.last_checkpoint, map_location="cpu", weights_only=False)
    first = next(iter(ckpt["model"]))
    ckpt["model"][first] = ckpt["model"][first].float() * float("nan")
    torch.save(ckpt, ws / "nan.pt")
    (ws / "garbage.pt").write_bytes(os.urandom(3000))
    os.replace(result.last_checkpoint, ws / "good.pt")
    run = {"name": "probe", "data_root": str(demo), "notebooks_dir": str(REPO / "notebooks"),
           "runs_dir": str(ws / "runs"), "reports_dir": str(ws / "reports"),
           "notebooks": {"01_explore_data": {}}}
    (ws / "run.yaml").write_text(json.dumps(run))
    (ws / "run_escape.yaml").write_text(json.dumps(dict(run, notebooks={"../../escape": {}})))
    (ws / "run_runs_file.yaml").write_text(json.dumps(dict(run, runs_dir=str(ws / "a_file"))))


# -- the probes ---------------------------------------------------------------------------------------

PRELUDE = """
import json, sys
def probe(fn):
    try:
        r = fn()
    except Exception as e:
        print(f"RAISED {type(e).__name__}: {e}".replace("\\n", " | "))
    else:
        print(f"RETURNED {r}")
"""


def probes() -> list[Probe]:
    out: list[Probe] = []
    add = out.append
    cli = ["cellseg-nb"]
    img = "%WS%/images"
    for k, (name, (_, what)) in enumerate(GT_VARIANTS.items(), 1):
        record = "image id=" if name in ("width_zero", "width_huge", "height_text", "name_traversal",
                                         "name_absolute", "dup_image_id", "missing_image") else "annotation"
        add(Probe(f"S{k:02d}", "summarize", f"ground truth: {what}", "exit 2, one line naming file and record",
                  cli + ["summarize", "--annotations", f"%WS%/gt_{name}.json", "--images", img],
                  needles=(f"gt_{name}.json", record)))
    n = len(out)
    for k, (name, what) in enumerate([("truncated", "truncated JSON"), ("list", "top level a list"),
                                      ("latin1", "not UTF-8"), ("empty", "empty file"),
                                      ("annotations_text", "'annotations' a string"),
                                      ("info_text", "'info' a string"), ("licenses_number", "'licenses' a number"),
                                      ("categories_text", "'categories' a string"),
                                      ("category_item", "a category that is a number")], n + 1):
        add(Probe(f"S{k:02d}", "summarize", f"ground truth: {what}", "exit 2, one line naming the file",
                  cli + ["summarize", "--annotations", f"%WS%/gt_{name}.json", "--images", img],
                  needles=(f"gt_{name}.json",)))
    k = len(out)
    add(Probe(f"S{k + 1:02d}", "summarize", "--annotations is a folder", "exit 2 at parsing",
              cli + ["summarize", "--annotations", "%WS%", "--images", img], needles=("is not a file",)))
    add(Probe(f"S{k + 2:02d}", "summarize", "--annotations missing", "exit 2 at parsing",
              cli + ["summarize", "--annotations", "%WS%/nope.json", "--images", img], needles=("no such file",)))
    add(Probe(f"S{k + 3:02d}", "summarize", "--images is a file", "exit 2 at parsing",
              cli + ["summarize", "--annotations", "%WS%/gt.json", "--images", "%WS%/a_file"],
              needles=("is not a folder",)))
    add(Probe(f"S{k + 4:02d}", "summarize", "--images is the wrong folder", "exit 2 naming the image record",
              cli + ["summarize", "--annotations", "%WS%/gt.json", "--images", "%WS%/demo"],
              needles=("image id=1",)))
    add(Probe(f"S{k + 5:02d}", "summarize", "garbage RLE with --skip-bad-records", "exit 0, counted skip",
              cli + ["summarize", "--annotations", "%WS%/gt_rle_garbage.json", "--images", img,
                     "--skip-bad-records"], rc=0, needles=("skipped: 1",)))

    ev = cli + ["evaluate", "--gt", "%WS%/gt.json"]
    for k, (name, (_, what)) in enumerate(PRED_VARIANTS.items(), 1):
        add(Probe(f"E{k:02d}", "evaluate", f"prediction: {what}", "exit 2, one line naming file and record",
                  ev + ["--pred", f"%WS%/pred_{name}.json"], needles=(f"pred_{name}.json", "prediction #0")))
    extra = [("mixed_bbox", "bbox on some records only", ("pred_mixed_bbox.json", "carry a bbox")),
             ("empty_list", "empty list", ("no predictions",)), ("empty", "empty file", ("empty",)),
             ("truncated", "truncated JSON", ("truncated",)), ("dict", "object without 'annotations'",
                                                              ("list of COCO result records",))]
    k = len(PRED_VARIANTS)
    for j, (name, what, needles) in enumerate(extra, k + 1):
        add(Probe(f"E{j:02d}", "evaluate", f"prediction file: {what}", "exit 2, one line naming the file",
                  ev + ["--pred", f"%WS%/pred_{name}.json"], needles=needles))
    k = j
    more = [
        ("--score-threshold 2", ["--pred", "%WS%/pred.json", "--score-threshold", "2"], ("[0, 1]",)),
        ("--score-threshold nan", ["--pred", "%WS%/pred.json", "--score-threshold", "nan"], ("finite",)),
        ("--score-threshold -0.1", ["--pred", "%WS%/pred.json", "--score-threshold", "-0.1"], ("[0, 1]",)),
        ("--per-image is a folder", ["--pred", "%WS%/pred.json", "--per-image", "%WS%"], ("--per-image", "folder")),
        ("--per-image below a file", ["--pred", "%WS%/pred.json", "--per-image", "%WS%/a_file/x.csv"],
         ("--per-image", "not a folder")),
        ("--pred missing", ["--pred", "%WS%/nope.json"], ("no such file",)),
        ("--iou-type keypoints", ["--pred", "%WS%/pred.json", "--iou-type", "keypoints"], ("invalid choice",)),
        ("--pred folder with a corrupt label TIFF", ["--pred", "%WS%/labels_bad"], (NAMES[0],)),
        ("--gt and --pred swapped", ["--pred", "%WS%/gt.json", "--gt", "%WS%/pred.json"],
         ("pred.json", "top level is a list")),
    ]
    for j, (what, argv, needles) in enumerate(more, k + 1):
        add(Probe(f"E{j:02d}", "evaluate", what, "exit 2, one line", ev + argv, needles=needles))
    k = j
    add(Probe(f"E{k + 1:02d}", "evaluate", "ground truth with garbage RLE", "exit 2 naming file and record",
              cli + ["evaluate", "--gt", "%WS%/gt_rle_garbage.json", "--pred", "%WS%/pred.json"],
              needles=("gt_rle_garbage.json", "annotation id=1")))
    add(Probe(f"E{k + 2:02d}", "evaluate", "ground truth with NaN area (issue: APs 0.66 on perfect preds)",
              "exit 2 naming file and record",
              cli + ["evaluate", "--gt", "%WS%/gt_area_nan.json", "--pred", "%WS%/pred.json"],
              needles=("gt_area_nan.json", "area")))

    dd = cli + ["demo-data", "--images-per-type", "1", "--cell-types", "A172"]
    for j, (what, argv, needles) in enumerate([
        ("--dest is a file", ["--dest", "%WS%/a_file"], ("not a folder",)),
        ("--dest below a file", ["--dest", "%WS%/a_file/sub"], ("is a file",)),
        ("--dest holds other files", ["--dest", "%WS%/foreign"], ("not empty", "--overwrite")),
        ("--images-per-type 0", ["--dest", "%WS%/d", "--images-per-type", "0"], ("> 0",)),
        ("--images-per-type -3", ["--dest", "%WS%/d", "--images-per-type", "-3"], ("> 0",)),
        ("--images-per-type abc", ["--dest", "%WS%/d", "--images-per-type", "abc"], ("whole number",)),
        ("--seed -1", ["--dest", "%WS%/d", "--seed", "-1"], ("seed",)),
        ("--seed 2**40", ["--dest", "%WS%/d", "--seed", str(2 ** 40)], ("seed",)),
        ("--cell-types HeLa", ["--dest", "%WS%/d", "--cell-types", "HeLa"], ("HeLa",)),
        ("--dest '' (the current folder, not empty)", ["--dest", ""], ("not empty",)),
    ], 1):
        add(Probe(f"D{j:02d}", "demo-data", what, "exit 2, one line, nothing written", dd + argv, needles=needles))

    val = "%WS%/demo/annotations/LIVECell/livecell_coco_val.json"
    sy = cli + ["synth", "--annotations", val, "--images", "%WS%/demo/images", "--factor", "1"]
    for j, (what, argv, needles, rc) in enumerate([
        ("--dest is the source folder", ["--dest", "%WS%/demo"], ("holds the source",), 2),
        ("--dest holds other files", ["--dest", "%WS%/foreign"], ("not empty",), 2),
        ("--dest is a file", ["--dest", "%WS%/a_file"], ("not a folder",), 2),
        ("--max-overlap 1.5", ["--dest", "%WS%/s", "--max-overlap", "1.5"], ("--max-overlap",), 2),
        ("--factor 0", ["--dest", "%WS%/s", "--factor", "0"], ("--factor",), 2),
        ("--confluence-range 0.6,0.2", ["--dest", "%WS%/s", "--confluence-range", "0.6,0.2"], ("LO <= HI",), 2),
        ("--confluence-range 0.2", ["--dest", "%WS%/s", "--confluence-range", "0.2"], ("LO,HI",), 2),
        ("--count-range=-1,5", ["--dest", "%WS%/s", "--count-range=-1,5"], (">= 0",), 2),
        ("--density matched with --confluence-range", ["--dest", "%WS%/s", "--density", "matched",
                                                       "--confluence-range", "0.1,0.2"], ("exclude",), 2),
        ("--cell-types HeLa", ["--dest", "%WS%/s", "--cell-types", "HeLa"], ("HeLa",), 2),
        ("--images missing", ["--dest", "%WS%/s", "--images", "%WS%/nowhere"], ("no such folder",), 2),
    ], 1):
        add(Probe(f"Y{j:02d}", "synth", what, "exit 2, one line, nothing written", sy + argv, rc=rc, needles=needles))
    k = j + 1
    add(Probe(f"Y{k:02d}", "synth", "source ground truth with garbage RLE (issue: 'Invalid RLE mask representation')",
              "exit 2 naming file and record", cli + ["synth", "--annotations", "%WS%/gt_rle_garbage.json",
                                                      "--images", img, "--dest", "%WS%/s_garbage"],
              needles=("gt_rle_garbage.json", "annotation id=1")))
    syr = cli + ["synth", "--annotations", val, "--images", "%WS%/demo_rgb/images", "--factor", "1"]
    add(Probe(f"Y{k + 1:02d}", "synth", "RGB source images", "exit 2 naming the image and --convert",
              syr + ["--dest", "%WS%/s_rgb"], needles=(".tif", "--convert"), timeout=180))
    add(Probe(f"Y{k + 2:02d}", "synth", "RGB source images with --convert", "exit 0 (converted by the stated rule)",
              syr + ["--dest", "%WS%/s_rgb2", "--convert"], rc=0, needles=("wrote 1 synthetic",), timeout=300))

    dl = cli + ["download", "livecell"]
    for j, (what, argv, needles) in enumerate([
        ("--dest is a file", ["--dest", "%WS%/a_file"], ("--dest", "not a folder")),
        ("--dest below a file", ["--dest", "%WS%/a_file/x"], ("is a file",)),
        ("--timeout 0", ["--dest", "%WS%/dl", "--timeout", "0"], ("--timeout",)),
        ("--retries -1", ["--dest", "%WS%/dl", "--retries", "-1"], ("--retries",)),
        ("--parts bogus", ["--dest", "%WS%/dl", "--parts", "bogus"], ("bogus",)),
        ("server refuses the connection (closed loopback port)",
         ["--dest", "%WS%/dl", "--base-url", "http://127.0.0.1:9/", "--retries", "0", "--timeout", "2",
          "--no-progress"], ("127.0.0.1",)),
        ("--base-url not http", ["--dest", "%WS%/dl2", "--base-url", "ftp://example.org/x/", "--retries", "0",
                                 "--no-progress"], ("ftp://example.org",)),
    ], 1):
        add(Probe(f"L{j:02d}", "download", what, "exit 2, one line", dl + argv, needles=needles, timeout=90))

    tr = cli + ["train", "--config"]
    for j, (what, argv, needles, owner) in enumerate([
        ("--config missing", ["%WS%/nope.yaml"], ("no such file",), ""),
        ("config not valid YAML", ["%WS%/bad.yaml"], ("bad.yaml",), ""),
        ("config is a YAML list", ["%WS%/list.yaml"], ("list.yaml",), "lead"),
        ("output_dir is a file", ["%WS%/train_outfile.yaml"], ("output_dir", "not a folder"), ""),
        ("train annotations missing", ["%WS%/train_noann.yaml"], ("nope.json",), ""),
        ("RGB training images", ["%WS%/train_rgb.yaml"], (".tif", "--convert"), ""),
        ("--set optim.lr=-1", ["%WS%/train.yaml", "--set", "optim.lr=-1"], ("optim.lr",), "lead"),
        ("--set optim.lr=.inf", ["%WS%/train.yaml", "--set", "optim.lr=.inf"], ("optim.lr|diverged",), "lead"),
        ("--set optim.lr=.nan", ["%WS%/train.yaml", "--set", "optim.lr=.nan"], ("optim.lr|diverged",), "lead"),
        ("--set steps=[1,", ["%WS%/train.yaml", "--set", "steps=[1,"], ("steps",), "lead"),
        ("--set steps=-5", ["%WS%/train.yaml", "--set", "steps=-5"], ("steps",), "lead"),
        ("--set batch_size=0", ["%WS%/train.yaml", "--set", "batch_size=0"], ("batch_size",), "lead"),
        ("--set seed=-1", ["%WS%/train.yaml", "--set", "seed=-1"], ("seed",), "lead"),
        ("--set data.crop_size=0", ["%WS%/train.yaml", "--set", "data.crop_size=0"], ("crop_size",), "lead"),
        ("--set nosuchkey=1", ["%WS%/train.yaml", "--set", "nosuchkey=1"], ("nosuchkey",), "lead"),
        ("--set without =", ["%WS%/train.yaml", "--set", "steps"], ("steps",), "lead"),
        ("train annotations with garbage RLE", ["%WS%/train.yaml", "--set",
                                                "data.train_annotations=%WS%/gt_rle_garbage.json"],
         ("gt_rle_garbage.json", "annotation id=1"), ""),
        ("--set data.images=<missing folder>", ["%WS%/train.yaml", "--set", "data.images=%WS%/nowhere"],
         ("nowhere",), ""),
    ], 1):
        add(Probe(f"T{j:02d}", "train", what, "exit 2, one line naming file or key", tr + argv, needles=needles,
                  timeout=240, owner=owner))

    rn = cli + ["run", "--config"]
    for j, (what, argv, needles) in enumerate([
        ("--name ../../elsewhere", ["%WS%/run.yaml", "--name", "../../elsewhere"], ("run name", "..")),
        ("--name /tmp/abs", ["%WS%/run.yaml", "--name", "/tmp/abs"], ("run name", "absolute")),
        ("--name ''", ["%WS%/run.yaml", "--name", ""], ("run name",)),
        ("notebook key ../../escape", ["%WS%/run_escape.yaml"], ("notebook key",)),
        ("runs_dir is a file", ["%WS%/run_runs_file.yaml"], ("runs folder", "not a folder")),
        ("--config missing", ["%WS%/nope.yaml"], ("no such file",)),
        ("config not valid YAML", ["%WS%/bad.yaml"], ("bad.yaml",)),
        ("--only 99", ["%WS%/run.yaml", "--only", "99"], ("--only",)),
        ("--seed -1", ["%WS%/run.yaml", "--seed", "-1"], ("seed",)),
        ("--data-root is a file", ["%WS%/run.yaml", "--data-root", "%WS%/a_file"], ("a_file",)),
    ], 1):
        add(Probe(f"R{j:02d}", "run", what, "exit 2, one line, nothing written outside runs/", rn + argv,
                  needles=needles, timeout=120))

    pr = cli + ["predict", "--images", "%WS%/demo/images", "--annotations", val, "--no-progress"]
    for j, (what, argv, needles) in enumerate([
        ("--score-threshold 2", ["--checkpoint", "%WS%/good.pt", "--out", "%WS%/p.json", "--score-threshold", "2"],
         ("--score-threshold",)),
        ("--checkpoint missing", ["--checkpoint", "%WS%/nope.pt", "--out", "%WS%/p.json"], ("nope.pt",)),
        ("--checkpoint random bytes", ["--checkpoint", "%WS%/garbage.pt", "--out", "%WS%/p.json"], ("garbage.pt",)),
        ("--checkpoint with NaN weights", ["--checkpoint", "%WS%/nan.pt", "--out", "%WS%/p.json"],
         ("nan.pt", "finite")),
        ("--out is a folder", ["--checkpoint", "%WS%/good.pt", "--out", "%WS%"], ("--out",)),
        ("--labels is a file", ["--checkpoint", "%WS%/good.pt", "--out", "%WS%/p.json", "--labels", "%WS%/a_file"],
         ("--labels",)),
        ("--images missing", ["--checkpoint", "%WS%/good.pt", "--out", "%WS%/p.json", "--images", "%WS%/nowhere"],
         ("nowhere",)),
    ], 1):
        add(Probe(f"P{j:02d}", "predict", what, "exit 2, one line, before any inference", pr + argv,
                  needles=needles, timeout=180, owner="H2"))

    wt = cli + ["weights"]
    for j, (what, argv, needles) in enumerate([
        ("download --dest is a file", ["download", "livecell-centermask-v99", "--dest", "%WS%/a_file"],
         ("--dest",)),
        ("download unknown name", ["download", "no-such-model"], ("no-such-model",)),
        ("info on random bytes", ["info", "%WS%/garbage.pt"], ("garbage.pt",)),
        ("info on a missing file", ["info", "%WS%/nope.pt"], ("nope.pt",)),
    ], 1):
        add(Probe(f"W{j:02d}", "weights", what, "exit 2, one line", wt + argv, needles=needles, owner="H1"))

    api = [
        ("load_coco", "garbage RLE", "DataError naming file and record",
         "from cellseg_nb.data.coco import load_coco\nprobe(lambda: load_coco('%WS%/gt_rle_garbage.json'))",
         ("DataError",), ("gt_rle_garbage.json", "annotation id=1")),
        ("load_coco", "garbage RLE, on_error='skip'", "returns, one counted skip",
         "from cellseg_nb.data.coco import load_coco\n"
         "probe(lambda: len(load_coco('%WS%/gt_rle_garbage.json', on_error='skip').skipped))", None, ("RETURNED 1",)),
        ("load_coco", "NaN area, on_error='skip'", "returns, one counted skip",
         "from cellseg_nb.data.coco import load_coco\n"
         "probe(lambda: len(load_coco('%WS%/gt_area_nan.json', on_error='skip').skipped))", None, ("RETURNED 1",)),
        ("dataset_from_dict", "bbox of 3 numbers", "DataError naming record",
         "from cellseg_nb.data.coco import dataset_from_dict\n"
         "probe(lambda: dataset_from_dict(json.load(open('%WS%/gt_bbox_three.json'))))", ("DataError",),
         ("annotation id=1", "bbox")),
        ("decode_rle_counts", "1 MB of garbage RLE", "RleError within a second",
         "import time\nfrom cellseg_nb.data.records import decode_rle_counts\nt=time.time()\n"
         "probe(lambda: decode_rle_counts('o' * 10**6 + '1', 520, 704))\nassert time.time() - t < 5",
         ("RleError",), ("characters",)),
        ("decode_rle_counts", "1 MB of valid-alphabet runs that overflow", "RleError",
         "from cellseg_nb.data.records import decode_rle_counts\n"
         "probe(lambda: decode_rle_counts('n1' * 500000, 520, 704))", ("RleError",), ("RLE",)),
        ("read_image", "RGB TIFF", "DataError naming file and --convert",
         "from cellseg_nb.data.images import read_image\nprobe(lambda: read_image('%WS%/rgb.tif'))",
         ("DataError",), ("rgb.tif", "--convert")),
        ("read_image", "16-bit TIFF", "DataError naming file and --convert",
         "from cellseg_nb.data.images import read_image\nprobe(lambda: read_image('%WS%/u16.tif'))",
         ("DataError",), ("u16.tif", "--convert")),
        ("read_image", "16-bit TIFF, convert=True", "returns uint8, 40000 -> round(40000/257) = 156",
         "from cellseg_nb.data.images import read_image\n"
         "probe(lambda: (read_image('%WS%/u16.tif', convert=True).dtype, int(read_image('%WS%/u16.tif', convert=True)[0,0])))",
         None, ("RETURNED (dtype('uint8'), 156)",)),
        ("read_image", "decompression bomb (15000x15000 PNG)", "DataError naming the file",
         "from cellseg_nb.data.images import read_image\nprobe(lambda: read_image('%WS%/bomb.png'))",
         ("DataError",), ("bomb.png", "too large")),
        ("read_image", "random bytes", "DataError naming the file",
         "from cellseg_nb.data.images import read_image\nprobe(lambda: read_image('%WS%/corrupt.tif'))",
         ("DataError",), ("corrupt.tif", "cannot decode")),
        ("read_image", "a folder", "DataError naming it",
         "from cellseg_nb.data.images import read_image\nprobe(lambda: read_image('%WS%'))", ("DataError",),
         ("folder",)),
        ("validate_results", "garbage RLE", "DataError naming record",
         "from cellseg_nb.data.coco import load_coco\nfrom cellseg_nb.eval import validate_results\n"
         "probe(lambda: validate_results(json.load(open('%WS%/pred_garbage.json')), load_coco('%WS%/gt.json')))",
         ("DataError",), ("prediction #0",)),
        ("evaluate_instances", "score_threshold=2", "ValueError naming the argument",
         "from cellseg_nb.eval import evaluate_instances\n"
         "probe(lambda: evaluate_instances('%WS%/gt.json', '%WS%/pred.json', score_threshold=2))",
         ("ValueError", "ConfigError"), ("score_threshold",)),
        ("masks_to_results", "NaN score", "ValueError",
         "import numpy as np\nfrom cellseg_nb.eval import masks_to_results\n"
         "probe(lambda: masks_to_results(1, np.ones((1, 4, 4), bool), [float('nan')]))", ("ValueError",), ("NaN",)),
        ("evaluate_instances", "bbox-less results: APs/APm/APl vs pycocotools on the same file",
         "equal (no silently wrong number)", _BBOXLESS, None, ("RETURNED equal",)),
        ("evaluate_instances", "ground-truth cell with id 0, perfect predictions",
         "AP 1.0 (pycocotools on the raw file counts that match as a false positive)",
         "from cellseg_nb.data.coco import dataset_from_dict\nfrom cellseg_nb.eval import evaluate_instances\n"
         "d = json.load(open('%WS%/gt.json')); d['annotations'][0]['id'] = 0\n"
         "p = [{'image_id': a['image_id'], 'score': 0.9, 'segmentation': a['segmentation']} for a in d['annotations']]\n"
         "probe(lambda: round(evaluate_instances(dataset_from_dict(d), p).summary['AP'], 6))", None, ("RETURNED 1.0",)),
        ("evaluate_instances", "string image ids ('a', 'b')", "same numbers as ids 1, 2",
         "from cellseg_nb.data.coco import dataset_from_dict\nfrom cellseg_nb.eval import evaluate_instances\n"
         "d = json.load(open('%WS%/gt.json')); p = json.load(open('%WS%/pred.json'))\n"
         "a = evaluate_instances(dataset_from_dict(d), p).summary['AP']\n"
         "ren = {1: 'a', 2: 'b'}\nfor x in d['images']: x['id'] = ren[x['id']]\n"
         "for x in d['annotations'] + p: x['image_id'] = ren[x['image_id']]\n"
         "b = evaluate_instances(dataset_from_dict(d), p).summary['AP']\n"
         "probe(lambda: 'same' if a == b else f'differ {a} {b}')", None, ("RETURNED same",)),
        ("generate_demo_dataset", "dest holds other files", "OutputError, nothing touched",
         "from cellseg_nb.demo import generate_demo_dataset\n"
         "probe(lambda: generate_demo_dataset('%WS%/foreign', images_per_type=1, cell_types=['A172']))",
         ("OutputError",), ("not empty",)),
        ("generate_synthetic_dataset", "dest is the source", "OutputError",
         "from cellseg_nb.synth import generate_synthetic_dataset\n"
         "probe(lambda: generate_synthetic_dataset('%WS%/demo/annotations/LIVECell/livecell_coco_val.json', "
         "'%WS%/demo/images', '%WS%/demo', overwrite=True))", ("OutputError",), ("holds the source",)),
        ("contained_child", "run name with a symlink out of runs/", "OutputError",
         "import os\nfrom cellseg_nb.outputs import contained_child\nos.makedirs('%WS%/r', exist_ok=True)\n"
         "os.path.lexists('%WS%/r/l') or os.symlink('/', '%WS%/r/l')\n"
         "probe(lambda: contained_child('%WS%/r', 'l/etc', 'run name'))", ("OutputError",), ("outside",)),
        ("atomic_write_text", "umask 002", "file mode 0664 (group can read)",
         "import os, stat\nos.umask(0o002)\nfrom cellseg_nb.atomic import atomic_write_text\n"
         "probe(lambda: oct(stat.S_IMODE(atomic_write_text('%WS%/mode.txt', 'x').stat().st_mode)))",
         None, ("RETURNED 0o664",)),
        ("cellseg-nb demo-data", "SIGINT while rewriting a dataset with another seed",
         "the old dataset or the new one, never a mix", _INTERRUPT, None, ("RETURNED old dataset intact|RETURNED new",)),
        ("load_checkpoint", "NaN weights", "error naming the file",
         "from cellseg_nb.train import load_checkpoint\nprobe(lambda: load_checkpoint('%WS%/nan.pt'))",
         ("DataError", "CheckpointError", "WeightsError", "ConfigError"), ("nan.pt",)),
    ]
    for j, (surface, bad, expected, code, raises, needles) in enumerate(api, 1):
        owner = "H1" if surface == "load_checkpoint" else ""
        add(Probe(f"A{j:02d}", f"API {surface}", bad, expected, code=code, raises=raises, needles=needles,
                  rc=0, timeout=120, owner=owner))
    return out


_BBOXLESS = """
import contextlib, copy, io, numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from cellseg_nb.eval import evaluate_instances
from pycocotools import mask as mu
gt = json.load(open('%WS%/gt.json'))
for a in gt["annotations"]:   # explicit fields, so both sides read the same ground-truth areas
    r = mu.merge(mu.frPyObjects(a["segmentation"], 48, 64))
    a.update(iscrowd=0, area=float(mu.area(r)), bbox=[float(v) for v in mu.toBbox(r)])
json.dump(gt, open('%WS%/gt_complete.json', 'w'))
preds = json.load(open('%WS%/pred.json'))
rng = np.random.default_rng(0)
for k in range(12):   # thin diagonal false positives: small masks with large extents
    m = np.zeros((48, 64), np.uint8)
    for t in range(30):
        m[(t * 40) // 30 % 48, (t + 3 * k) % 64] = 1
    preds.append({"image_id": 1 + k % 2, "category_id": 1, "score": float(rng.uniform(0.5, 1)),
                  "segmentation": {"size": [48, 64], "counts": mu.encode(np.asfortranarray(m))["counts"].decode()}})
def m(a):
    a = a[a > -1]; return float(a.mean()) if a.size else float("nan")
def reference(records):
    with contextlib.redirect_stdout(io.StringIO()):
        g = COCO(); g.dataset = copy.deepcopy(gt); g.createIndex()
        ev = COCOeval(g, g.loadRes(copy.deepcopy(records)), "segm")
        ev.params.useCats = 0; ev.params.maxDets = [100, 500, 2000]
        ev.params.areaRng = [[0, 1e10], [0, 324], [324, 961], [961, 1e10]]
        ev.evaluate(); ev.accumulate()
    p = ev.eval["precision"]
    return {"AP": m(p[..., 0, 2]), "APs": m(p[..., 1, 2]), "APm": m(p[..., 2, 2]), "APl": m(p[..., 3, 2])}
ref = reference(preds)
boxed = reference([dict(r, bbox=[float(v) for v in mu.toBbox(dict(r["segmentation"],
        counts=r["segmentation"]["counts"].encode()))]) for r in preds])
ours = evaluate_instances('%WS%/gt_complete.json', copy.deepcopy(preds)).summary
same = all(abs(ours[k] - v) < 1e-9 or (v != v and ours[k] != ours[k]) for k, v in ref.items())
probe(lambda: (f"equal (APs {ref['APs']:.3f}; with mask-extent boxes added pycocotools gives {boxed['APs']:.3f})"
               if same else f"differ: ours {ours} ref {ref}"))
"""


_INTERRUPT = """
import hashlib, signal, subprocess, time
from pathlib import Path
from cellseg_nb.demo import generate_demo_dataset
def digest(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob('*')) if p.is_file()}
dest = generate_demo_dataset('%WS%/demo_int', images_per_type=8, seed=1, cell_types=['A172'])
before = digest(dest)
proc = subprocess.Popen([sys.executable, '-m', 'cellseg_nb.cli', 'demo-data', '--dest', str(dest),
                         '--images-per-type', '8', '--seed', '2', '--cell-types', 'A172'],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(3.0)
proc.send_signal(signal.SIGINT)
rc = proc.wait()
after = digest(dest)
new = digest(generate_demo_dataset('%WS%/demo_new', images_per_type=8, seed=2, cell_types=['A172']))
leftovers = [p.name for p in Path('%WS%').iterdir() if p.name.startswith('.demo_int.')]
probe(lambda: ("old dataset intact" if after == before else "new dataset complete" if after == new else "MIXED")
      + f" (exit {rc}, staging leftovers {leftovers})")
"""


# -- running and judging ------------------------------------------------------------------------------

def run_probe(probe: Probe, ws: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), CELLSEG_NB_HOME=str(ws / "home"))
    if probe.argv is not None:
        cmd = [sys.executable, "-m", "cellseg_nb.cli"] + [a.replace("%WS%", str(ws)) for a in probe.argv[1:]]
    else:
        cmd = [sys.executable, "-c", PRELUDE + probe.code.replace("%WS%", str(ws))]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=probe.timeout, cwd=ws, env=env)
    except subprocess.TimeoutExpired:
        return {"verdict": "FAIL", "observed": f"HANG: no answer within {probe.timeout:.0f} s", "seconds": probe.timeout}
    seconds = time.perf_counter() - start
    verdict, observed = judge(probe, proc)
    return {"verdict": verdict, "observed": observed.replace(str(ws), "WS"), "seconds": seconds}


def _has(text: str, needle: str, ws: str = "") -> bool:
    return any(alt.replace("%WS%", ws) in text for alt in needle.split("|"))


def judge(probe: Probe, proc: subprocess.CompletedProcess) -> tuple[str, str]:
    err, out = proc.stderr.strip(), proc.stdout.strip()
    if "Traceback (most recent call last)" in err:
        last = err.splitlines()[-1]
        return "FAIL", f"traceback, exit {proc.returncode}: {last}"
    if probe.argv is not None:
        # one-line warnings (``cellseg-nb CMD: warning: ...``) may precede the error line
        lines = [ln for ln in err.splitlines() if ln.strip() and f"cellseg-nb {probe.argv[1]}: warning: " not in ln]
        shown = lines[0] if lines else (out.splitlines()[-1] if out else "")
        observed = f"exit {proc.returncode}: {shown}"
        if proc.returncode != probe.rc:
            why = "accepted silently" if proc.returncode == 0 else "wrong exit status"
            return "FAIL", f"{why}; {observed}"
        if probe.rc == 2:
            prefix = f"cellseg-nb {probe.argv[1]}: error: "
            if len(lines) != 1 or not lines[0].startswith(prefix):
                return "FAIL", f"not one '{prefix.strip()}' line ({len(lines)} lines); {observed}"
            text = lines[0]
        else:
            text = out + "\n" + err
        missing = [n for n in probe.needles if not _has(text, n)]
        return ("FAIL", f"does not name {missing}; {observed}") if missing else ("PASS", observed)
    result = out.splitlines()[-1] if out else f"no output, exit {proc.returncode}: {err[-200:]}"
    if proc.returncode != 0:
        return "FAIL", f"exit {proc.returncode}: {result}"
    if probe.raises is None:
        ok = result.startswith("RETURNED") and all(_has(result, n) for n in probe.needles)
    else:
        ok = (any(result.startswith(f"RAISED {name}:") for name in probe.raises)
              and all(_has(result, n) for n in probe.needles))
    return ("PASS" if ok else "FAIL"), result


def table(probes_: list[Probe], results: list[dict]) -> str:
    def cell(text: str, limit: int = 150) -> str:
        text = " ".join(str(text).split()).replace("|", "\\|")
        return text if len(text) <= limit else text[: limit - 1] + "…"

    n_fail = sum(r["verdict"] != "PASS" for r in results)
    hangs = sum(r["observed"].startswith("HANG") for r in results)
    tracebacks = sum(r["observed"].startswith("traceback") for r in results)
    lines = [f"{len(results)} probes: {len(results) - n_fail} pass, {n_fail} fail ({hangs} hang(s), "
             f"{tracebacks} traceback(s)). Generated by `OMP_NUM_THREADS=1 .venv/bin/python "
             "benchmarks/probe_hostile_input.py`; WS is the probe's temporary workspace.", "",
             "| id | surface | bad input | expected | observed | verdict |", "|---|---|---|---|---|---|"]
    for p, r in zip(probes_, results):
        verdict = r["verdict"] + (f" ({p.owner}'s, in progress)" if r["verdict"] != "PASS" and p.owner else "")
        lines.append(f"| {p.id} | {cell(p.surface, 40)} | {cell(p.bad, 70)} | {cell(p.expected, 60)} | "
                     f"{cell(r['observed'])} | {verdict} |")
    return "\n".join(lines)


def write_doc(text: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    if START not in doc or END not in doc:
        raise SystemExit(f"{DOC} lacks the {START} / {END} markers")
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    from cellseg_nb.atomic import atomic_write_text

    atomic_write_text(DOC, f"{head}{START}\n{text}\n{END}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run only probes whose id starts with this prefix")
    parser.add_argument("--jobs", type=int, default=1, help="probes run in parallel (default 1)")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave docs/reliability.md")
    args = parser.parse_args()
    selected = [p for p in probes() if p.id.startswith(args.only)]
    with tempfile.TemporaryDirectory(prefix="cellseg-probe-") as tmp:
        ws = Path(tmp)
        t0 = time.perf_counter()
        build_workspace(ws)
        print(f"workspace built in {time.perf_counter() - t0:.1f} s; {len(selected)} probes", flush=True)

        def one(p: Probe) -> dict:
            r = run_probe(p, ws)
            print(f"{p.id:5s} {r['verdict']:4s} {r['seconds']:6.1f}s {r['observed'][:110]}", flush=True)
            return r

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(one, selected))
    text = table(selected, results)
    if args.no_write or args.only:
        print(text)
    else:
        write_doc(text)
        print(f"table written to {DOC}")
    return 0 if all(r["verdict"] == "PASS" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
