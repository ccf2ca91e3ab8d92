"""Dense images: time and peak memory per image of CenterMask-Lite and V-99 with >= 1,000 detections.

LIVECell images hold up to ~2,000 cells. This runs each model on the densest annotated image of the real
sample (``../shared/data/livecell-sample``, found by annotation count) at LIVECell's test size (short side
800, x1.54) with random weights and ``inference_threshold`` 0, so FCOS keeps its full post-NMS top-k
(3000) and the model returns ``detections_per_image`` (2000) instances, as a trained model would on a
dense image. The box-regression bias is set so the boxes are cell-sized (``--box-bias``). Each model
runs in its own process, so its peak RSS (``ru_maxrss``) is its own: model, activations, masks. The run goes through the package's one prediction loop
(:func:`cellseg_nb.train.inference.predict_images`): forward pass, masks at box resolution, RLE
records and the uint16 label image. Reported: seconds per image (forward; RLE + label image), peak
RSS, the RSS before the image (model built), the bytes the masks take at box resolution and what full-size
``N x H x W`` masks would take.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/dense_inference.py [--models lite,v99] [--threads 1]
[--test-size 800] [--box-bias 1.0] [--dense] [--json out.json]`` (``--dense``: hold full-size masks,
as before, for comparison).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import time
from collections import Counter
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "livecell-sample"
PRESETS = {"lite": "centermask_lite_v19_slim_dw", "v99": "centermask_v99"}


def densest_image(sample: Path) -> tuple[Path, str, int]:
    """Path, file name and annotation count of the sample image with the most annotated cells."""
    from cellseg_nb.data.coco import load_coco
    from cellseg_nb.data.layout import ImageLocator

    ann = sample / "annotations" / "LIVECell" / "livecell_coco_val.json"
    gt = load_coco(ann)
    counts = Counter(a["image_id"] for a in gt.annotations)
    image_id, n = counts.most_common(1)[0]
    name = gt.image(image_id)["file_name"]
    return ImageLocator(sample / "images").resolve(name), name, n


def _rss_mb() -> float:
    """Current resident set size (MB) from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _measure(preset: str, image_path: str, threads: int, test_size: int, seed: int, box_bias: float,
             dense: bool, queue) -> None:
    import numpy as np
    import torch

    from cellseg_nb.eval.labels import label_tiff_name  # noqa: F401  (import cost outside the timing)
    from cellseg_nb.models.centermask import build_centermask
    from cellseg_nb.models.instances import prediction_masks
    from cellseg_nb.train.inference import ImageSource, predict_images, read_source

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = build_centermask(preset, frozen_bn=False, inference_threshold=0.0, test_min_size=test_size,
                             test_max_size=1333).eval()
    with torch.no_grad():  # cell-sized boxes: l, t, r, b ~ box_bias strides (random weights give ~0-px boxes)
        model.fcos_head.bbox_pred.bias.fill_(box_bias)
    source = ImageSource(Path(image_path).name, Path(image_path), Path(image_path).name)
    image = read_source(source)
    held: dict = {}

    def predictor(img, _source):
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = model(torch.from_numpy(img.astype(np.float32))[None, None])[0]
        held["forward_s"] = time.perf_counter() - t0
        held["masks_bytes"] = out["masks"].nbytes()
        held["n"] = len(out["scores"])
        if dense:  # what the old contract held: every mask full size (N x H x W bool)
            return prediction_masks(out["masks"], "dense"), out["scores"]
        return out["masks"], out["scores"]

    def on_image(pred):
        t0 = time.perf_counter()
        labels = prediction_masks(pred.masks, "labels", pred.scores)
        held["labels_s"] = time.perf_counter() - t0
        held["labelled"] = int(len(np.unique(labels)) - 1)

    rss_before = _rss_mb()
    start = time.perf_counter()
    run = predict_images([source], predictor, read=lambda s: image, on_image=on_image, progress=False)
    total = time.perf_counter() - start
    h, w = image.shape
    queue.put({"preset": preset, "detections": held["n"], "records": len(run.records),
               "forward_s": round(held["forward_s"], 2), "per_image_s": round(total, 2),
               "rle_and_labels_s": round(total - held["forward_s"], 2), "label_image_s": round(held["labels_s"], 2),
               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
               "rss_before_image_mb": round(rss_before, 1),
               "masks_box_resolution_mb": round(held["masks_bytes"] / 2**20, 2),
               "masks_dense_equivalent_mb": round(held["n"] * h * w / 2**20, 1),
               "labelled_in_label_image": held["labelled"]})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lite,v99")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--test-size", type=int, default=800, help="short side at test (LIVECell: 800)")
    parser.add_argument("--sample", type=Path, default=SAMPLE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--box-bias", type=float, default=1.0,
                        help="bias of the FCOS box regression: boxes of ~2 x bias strides (P3: 16 px at the "
                             "test size, ~10 px in the image), so the masks are cell-sized")
    parser.add_argument("--dense", action="store_true",
                        help="for comparison: turn the masks into full-size N x H x W masks before encoding, as "
                             "the eval-mode contract did before masks were kept at box resolution")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if not args.sample.is_dir():
        parser.error(f"real sample not found at {args.sample}")
    path, name, n_cells = densest_image(args.sample)
    results = {"image": name, "annotated_cells": n_cells, "threads": args.threads, "test_size": args.test_size,
               "box_bias": args.box_bias, "dense": args.dense,
               "torch_threads_note": "one process per model; OMP_NUM_THREADS as set by the caller",
               "cpu": platform.processor() or platform.machine(), "models": []}
    ctx = mp.get_context("spawn")
    for key in args.models.split(","):
        queue = ctx.Queue()
        proc = ctx.Process(target=_measure, args=(PRESETS[key], str(path), args.threads, args.test_size,
                                                  args.seed, args.box_bias, args.dense, queue))
        proc.start()
        row = queue.get()
        proc.join()
        results["models"].append(row)
        print(json.dumps(row))
    if args.json:
        from cellseg_nb.atomic import atomic_write_json

        atomic_write_json(args.json, results, indent=2)
    print(json.dumps({k: v for k, v in results.items() if k != "models"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
