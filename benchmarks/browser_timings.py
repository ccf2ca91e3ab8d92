"""Time the prediction browser's interactions on a dense image (issue #15: every change under 0.3 s on a
2,000-cell image).

Images:

1. the densest image of a generated demo dataset (``--images-per-type`` per cell type and split, seed 0;
   the default config's ``make demo`` data uses 8), or of ``--data-root`` when given;
2. a 2,000-cell image (``--cells``): a 704 x 520 field packed with small jittered ellipses on a noisy
   grey background, the density of LIVECell's most crowded SH-SY5Y and SkBr3 images.

Two "models" per image are the ground truth perturbed with different seeds (every cell jittered, 10 %
dropped, 5 % duplicated, 5 % spurious ellipses, random scores; :mod:`cellseg_nb.eval.perturb`), saved as RLE
results as the browser reads them. Each interaction is timed from setting the widget to the picture being
ready to send: the browser's own update (matching, classes, metrics, overlay) plus the Agg render and
PNG encoding ipympl performs for the front end (its ``canvas.draw()``, which encodes and sends the
picture); a click only updates the info box, so it is timed without a redraw.
Opening the browser (ranking the models by F1 over the images, first picture) and the first visit of
another image (rasterising its layers, overlaps of every prediction) are timed separately: they are what
the caches exist for. These "first time" rows and the repeated changes are measured with the background
prefetch off, so nothing is cached before it is asked for. A second browser, prefetch on, times the same
first looks once the prefetch started by the previous picture has finished (what a user who looks at a
picture for a moment gets), and how long that background work took. Each change is repeated
``--repeat`` times; median and max reported.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/browser_timings.py [--images-per-type 8] [--cells 2000]
[--repeat 5] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def dense_dataset(n_cells: int, seed: int = 0, width: int = 704, height: int = 520, n_images: int = 2):
    """``n_images`` images with ``n_cells`` non-overlapping small ellipses each on a jittered grid, and
    their pixels (by image id)."""
    from cellseg_nb.data.coco import dataset_from_dict

    images, annotations, pixels = [], [], {}
    for k in range(n_images):
        record, anns, picture = _dense_image(k + 1, n_cells, np.random.default_rng(seed + k), width, height)
        images.append(record)
        annotations += [{**a, "id": len(annotations) + j + 1} for j, a in enumerate(anns)]
        pixels[record["id"]] = picture
    return dataset_from_dict({"images": images, "annotations": annotations}), pixels


def _dense_image(image_id: int, n_cells: int, rng: np.random.Generator, width: int, height: int):
    columns = int(np.ceil(np.sqrt(n_cells * width / height)))
    rows = int(np.ceil(n_cells / columns))
    step_x, step_y = width / columns, height / rows
    annotations, pixels = [], rng.normal(128, 6, (height, width))
    for k in range(n_cells):
        r, c = divmod(k, columns)
        cx = (c + 0.5) * step_x + rng.uniform(-1, 1)
        cy = (r + 0.5) * step_y + rng.uniform(-1, 1)
        ax, ay = 0.42 * step_x * rng.uniform(0.8, 1.0), 0.42 * step_y * rng.uniform(0.8, 1.0)
        angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        poly = np.stack([cx + ax * np.cos(angles), cy + ay * np.sin(angles)], axis=1)
        annotations.append({"image_id": image_id, "category_id": 1, "iscrowd": 0,
                            "segmentation": [poly.ravel().round(2).tolist()]})
        y0, y1 = max(int(cy - ay) - 1, 0), min(int(cy + ay) + 2, height)
        x0, x1 = max(int(cx - ax) - 1, 0), min(int(cx + ax) + 2, width)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        pixels[y0:y1, x0:x1][((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1] -= 30
    record = {"id": image_id, "file_name": f"SHSY5Y_Phase_A1_1_{image_id:02d}d00h00m_1.tif", "width": width,
              "height": height}
    return record, annotations, np.clip(pixels, 0, 255).astype(np.uint8)


def two_models(dataset) -> dict[str, list[dict]]:
    """Two perturbations of the ground truth (RLE results, as saved predictions are)."""
    from cellseg_nb.eval.perturb import PerturbConfig, perturbed_predictions
    from cellseg_nb.eval.predictions import validate_results
    from cellseg_nb.viz.overlay import record_mask

    out = {}
    for name, seed, jitter in (("model_a", 0, 1.0), ("model_b", 1, 2.0)):
        records = perturbed_predictions(dataset, np.random.default_rng(seed), PerturbConfig(jitter_px=jitter))
        out[name] = validate_results(_as_rle(records, dataset, record_mask), dataset)
    return out


def _as_rle(records, dataset, record_mask):
    from pycocotools import mask as mask_utils

    out = []
    for r in records:
        img = dataset.image(r["image_id"])
        rle = mask_utils.encode(np.asfortranarray(record_mask(r, img["height"], img["width"]).astype(np.uint8)))
        rle["counts"] = rle["counts"].decode("ascii")
        out.append({**r, "segmentation": rle})
    return out


def time_browser(dataset, load_image, predictions, repeat: int) -> dict:
    from cellseg_nb.viz.browser import PredictionBrowser
    from cellseg_nb.viz.browser_data import BrowserData

    data = BrowserData(dataset, load_image, {m: _group(p) for m, p in predictions.items()})
    start = time.perf_counter()
    browser = PredictionBrowser(data, score_threshold=0.5, prefetch=False)
    browser.canvas.syncing_data_url = False  # as once a front end is connected: one PNG per frame
    _ship(browser)
    opened = time.perf_counter() - start
    image_id = browser.image.value
    new_image = None
    if len(browser.image.options) > 1:  # first visit of another image: nothing cached yet
        start = time.perf_counter()
        browser.step(1)
        _ship(browser)
        new_image = round(time.perf_counter() - start, 3)
        browser.step(-1)
        _ship(browser)
    cells = len(dataset.annotations_for(image_id))
    preds = {m: len(p.get(image_id, [])) for m, p in data.predictions.items()}

    def timed(action, redraw: bool) -> float:
        t0 = time.perf_counter()
        action()
        if redraw:
            _ship(browser)
        return time.perf_counter() - t0

    steps = {
        "threshold 0.5 <-> 0.3": lambda k: setattr(browser.threshold, "value", 0.3 if k % 2 == 0 else 0.5),
        "model a <-> b": lambda k: setattr(browser.model, "value", ["model_b", "model_a"][k % 2]),
        "colour by error class on/off": lambda k: setattr(browser.show_errors, "value", k % 2 == 0),
        "outlined <-> filled": lambda k: setattr(browser.filled, "value", ["filled", "outlined"][k % 2]),
        "opacity 0.45 <-> 0.8": lambda k: setattr(browser.opacity, "value", [0.8, 0.45][k % 2]),
        "ground truth off/on": lambda k: setattr(browser.show_gt, "value", k % 2 == 1),
        "compare side by side on/off": lambda k: setattr(browser.compare, "value",
                                                         ["model_b", "none"][k % 2]),
        "click (inspect a pixel)": lambda k: browser.inspect(100 + k, 100 + k),
    }
    # first times, nothing cached for them yet: a threshold not used before, a model not shown before
    cold = {}
    for name, action in (("a new score threshold (0.35)", lambda: setattr(browser.threshold, "value", 0.35)),
                         ("first switch to the other model", lambda: setattr(browser.model, "value", "model_b"
                                                                             if browser.model.value == "model_a"
                                                                             else "model_a"))):
        cold[name] = round(timed(action, True), 3)
    browser.threshold.value, browser.model.value = 0.5, "model_a"
    # warm every cache a step can reach, as a user's first pass does; then time
    for action in steps.values():
        action(0), action(1)
    results = {}
    for name, action in steps.items():
        times = [timed(lambda: action(k), not name.startswith("click")) for k in range(2 * repeat)]
        results[name] = {"median_s": round(statistics.median(times), 4), "max_s": round(max(times), 4)}
    return {"cells": cells, "predictions": preds, "open_s": round(opened, 3), "new_image_s": new_image,
            "first_time_s": cold, "changes": results, "prefetched": time_prefetched(data),
            "computation": time_computation(dataset, predictions, repeat)}


def time_prefetched(data) -> dict:
    """First looks in a fresh browser with the background prefetch on, each after the prefetch started by
    the previous picture has finished; ``background_s``: the longest wait, after a picture was sent, for
    its prefetch to finish (its start delay, ``PREFETCH_DELAY_S``, included)."""
    from cellseg_nb.viz.browser import PredictionBrowser

    browser = PredictionBrowser(data, score_threshold=0.5)
    browser.canvas.syncing_data_url = False
    _ship(browser)
    out, background = {}, []

    def settle() -> None:
        t0 = time.perf_counter()
        browser.cache.wait_prefetch()
        background.append(time.perf_counter() - t0)

    def first_look(name, action) -> None:
        settle()
        t0 = time.perf_counter()
        action()
        _ship(browser)
        out[name] = round(time.perf_counter() - t0, 3)

    if len(browser.image.options) > 1:
        first_look("first visit of the next image", lambda: browser.step(1))
        settle()
        browser.step(-1)
        _ship(browser)
    other = next(v for _, v in browser.model.options if v != browser.model.value)
    first_look("first switch to the other model", lambda: setattr(browser.model, "value", other))
    settle()
    return {"first_time_s": out, "background_s": round(max(background), 3)}


def time_computation(dataset, predictions, repeat: int) -> dict:
    """The per-image evaluation work behind a first look, alone (no widgets, no pictures): overlaps of one
    model's predictions with the cells (all-pairs mask IoU), the greedy matching at the ten IoU thresholds,
    and the score at one threshold on those (counts, taxonomy, pixel overlap); median and max over the
    images and ``repeat`` rounds."""
    from cellseg_nb.data.geometry import annotation_rles
    from cellseg_nb.eval.per_image import greedy_matches, image_overlaps_of, score_image

    model = sorted(predictions)[0]
    times: dict[str, list[float]] = {"overlaps (all-pairs mask IoU)": [], "greedy matching, 10 IoU thresholds": [],
                                      "score at one threshold": []}
    for img in dataset.images:
        anns = dataset.annotations_for(img["id"])
        rles = annotation_rles(anns, img["height"], img["width"])
        preds = [r for r in predictions[model] if r["image_id"] == img["id"]]
        crowd = np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool)
        for _ in range(repeat):
            t0 = time.perf_counter()
            overlaps = image_overlaps_of(anns, preds, rles)
            t1 = time.perf_counter()
            matches = greedy_matches(overlaps, crowd)
            t2 = time.perf_counter()
            score_image(img, anns, preds, iou_type="segm", score_threshold=0.5, gt_rles=rles, overlaps=overlaps,
                        matches=matches)
            t3 = time.perf_counter()
            for name, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
                times[name].append(dt)
    return {name: {"median_s": round(statistics.median(v), 4), "max_s": round(max(v), 4)} for name, v in times.items()}


def _ship(browser) -> None:
    """What ipympl does before the front end gets the picture: render with Agg, encode the PNG, send it."""
    browser.canvas.draw()


def _group(records):
    from cellseg_nb.viz.browser_data import group_by_image

    return group_by_image(records)


def densest_demo(root: Path, images_per_type: int):
    from cellseg_nb.data.coco import CocoDataset
    from cellseg_nb.data.splits import load_split
    from cellseg_nb.demo import generate_demo_dataset

    if not (root / "annotations").is_dir():
        generate_demo_dataset(root, images_per_type=images_per_type, seed=0)
    best = None
    for split in ("train", "val", "test"):
        data = load_split(root, split)
        for image_id in data.dataset.image_ids:
            n = len(data.dataset.annotations_for(image_id))
            if best is None or n > best[0]:
                best = (n, data, image_id)
    _, data, image_id = best
    record = data.dataset.image(image_id)
    second = max((i for i in data.dataset.image_ids if i != image_id),
                 key=lambda i: len(data.dataset.annotations_for(i)))  # the next densest, for a first visit
    ids = [image_id, second]
    subset = CocoDataset(images=[data.dataset.image(i) for i in ids],
                         annotations=[a for i in ids for a in data.dataset.annotations_for(i)])
    return subset, data.load_image, record["file_name"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=None, help="a LIVECell-layout dataset (default: "
                        "generate the demo data into a temporary folder)")
    parser.add_argument("--images-per-type", type=int, default=8)
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_root or Path(tmp) / "demo"
        dataset, load_image, name = densest_demo(root, args.images_per_type)
        report["densest demo image"] = {"file_name": name, **time_browser(dataset, load_image,
                                                                         two_models(dataset), args.repeat)}
    dataset, pixels = dense_dataset(args.cells)
    report[f"{args.cells}-cell image"] = time_browser(dataset, lambda record: pixels[record["id"]],
                                                      two_models(dataset), args.repeat)
    for title, part in report.items():
        print(f"\n{title}: {part['cells']} cells, predictions {part['predictions']}; opening the browser "
              f"{part['open_s']:.2f} s, first visit of another such image {part['new_image_s']} s")
        for step, t in part["first_time_s"].items():
            print(f"  {step:32s} first time {1000 * t:6.1f} ms")
        for step, t in part["changes"].items():
            print(f"  {step:32s} median {1000 * t['median_s']:6.1f} ms   max {1000 * t['max_s']:6.1f} ms")
        ahead = part["prefetched"]
        for step, t in ahead["first_time_s"].items():
            print(f"  prefetched: {step:32s} {1000 * t:6.1f} ms")
        print(f"  prefetch done at most {1000 * ahead['background_s']:.0f} ms after a picture was sent "
              f"(start delay included)")
        for step, t in part["computation"].items():
            print(f"  computation alone: {step:36s} median {1000 * t['median_s']:6.1f} ms   "
                  f"max {1000 * t['max_s']:6.1f} ms")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
