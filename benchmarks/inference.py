"""CPU inference latency of CenterMask-Lite (V-19-slim-DW) and CenterMask V-99 against torchvision's
Mask R-CNN R50-FPN, all on the same 704x520 input, in one run.

All models are randomly initialised (no downloads) and process the image at its native size
(CenterMask test_min_size 520 / max 704; Mask R-CNN min_size 520 / max_size 704), so the comparison is
at equal input. Score thresholds are 0 and every model keeps exactly its top ``--detections``
detections, so the mask branches do the same amount of work as a trained model would on a LIVECell
image with that many cells. Each model runs ``--warmup`` untimed and ``--repeats`` timed forward
passes, the models taking turns; the median is reported.

Usage: ``OMP_NUM_THREADS=2 python benchmarks/inference.py [--repeats 5] [--detections 100]
[--threads 2] [--json out.json] [--livecell-size]`` (``--livecell-size``: CenterMask at its LIVECell
test size 800/1333 and Mask R-CNN at its default 800/1333 instead of native size).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Callable

import torch
import torchvision

from cellseg_nb.atomic import atomic_write_json
from cellseg_nb.models.centermask import build_centermask


def time_interleaved(runs: dict[str, Callable[[], list[dict]]], warmup: int,
                     repeats: int) -> dict[str, dict]:
    """Median seconds per model; the models take turns (A, B, C, A, B, C, ...) so that load from other
    processes on a shared machine hits every model alike."""
    timings: dict[str, list[float]] = {name: [] for name in runs}
    detections: dict[str, int] = {}
    with torch.inference_mode():
        for _ in range(warmup):
            for run in runs.values():
                run()
        for _ in range(repeats):
            for name, run in runs.items():
                start = time.perf_counter()
                out = run()
                timings[name].append(time.perf_counter() - start)
                detections[name] = int(len(out[0]["scores"]))
    return {name: {"median_s": statistics.median(t), "times_s": t, "detections": detections[name]}
            for name, t in timings.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--detections", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--livecell-size", action="store_true", help="test size 800/1333 instead of 520/704")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the results here (atomic)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    min_size, max_size = (800, 1333) if args.livecell_size else (520, 704)
    generator = torch.Generator().manual_seed(args.seed)
    image = 128 + 20 * torch.randn((1, 1, 520, 704), generator=generator)  # raw 0..255-ish grey image
    image = image.clamp(0, 255)

    sizes = dict(test_min_size=min_size, test_max_size=max_size, inference_threshold=0.0,
                 detections_per_image=args.detections, tile_large_images=False)
    lite = build_centermask("centermask_lite_v19_slim_dw", **sizes).eval()
    v99 = build_centermask("centermask_v99", **sizes).eval()
    mask_rcnn = torchvision.models.detection.maskrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=2, min_size=min_size, max_size=max_size,
        box_score_thresh=0.0, box_detections_per_img=args.detections).eval()
    rgb = [(image[0] / 255.0).expand(3, -1, -1).contiguous()]

    runs = {
        "CenterMask-Lite V-19-slim-DW": lambda: lite(image),
        "CenterMask V-99": lambda: v99(image),
        "Mask R-CNN R50-FPN (torchvision)": lambda: mask_rcnn(rgb),
    }
    results = time_interleaved(runs, args.warmup, args.repeats)
    for name, r in results.items():
        print(f"{name:36s} median {r['median_s']:7.3f} s  (runs {', '.join(f'{t:.3f}' for t in r['times_s'])}; "
              f"{r['detections']} detections)", flush=True)
    lite_s = results["CenterMask-Lite V-19-slim-DW"]["median_s"]
    ratio = lite_s / results["Mask R-CNN R50-FPN (torchvision)"]["median_s"]
    print(f"Lite / Mask R-CNN time ratio: {ratio:.3f} (target <= 0.333)")
    summary = {"input": "1x1x520x704", "processed_size": [min_size, max_size], "threads": torch.get_num_threads(),
               "torch": torch.__version__, "torchvision": torchvision.__version__, "cpu": platform.processor(),
               "detections": args.detections, "results": results, "lite_over_mask_rcnn": ratio}
    if args.json:
        atomic_write_json(args.json, summary, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
