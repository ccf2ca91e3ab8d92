"""``cellseg-nb summarize``: image, cell and confluence counts per cell type of a LIVECell annotation file."""

from __future__ import annotations

import argparse
import json
import math

from ..data.coco import load_coco
from ..data.layout import ImageLocator
from ..data.table import summarize
from .arguments import existing_dir, existing_file

NAME = "summarize"
HELP = "count images, cells, cell area and confluence per cell type of a COCO annotation file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--annotations", required=True, type=existing_file, help="LIVECell COCO json file")
    parser.add_argument("--images", required=True, type=existing_dir, help="image folder (nested or flat layout)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--skip-bad-records", action="store_true",
                        help="log and skip bad records / missing images instead of stopping")


def run(args: argparse.Namespace) -> int:
    on_error = "skip" if args.skip_bad_records else "raise"
    dataset = load_coco(args.annotations, on_error=on_error)
    locator = ImageLocator(args.images)
    missing = []
    for img in dataset.images:
        if locator.find(img["file_name"]) is None:
            if on_error == "raise":
                locator.resolve(img["file_name"], record=f"image id={img['id']!r}", annotations=args.annotations)
            missing.append(img["id"])
    if missing:
        keep = set(dataset.image_ids) - set(missing)
        skipped_before = list(dataset.skipped)
        dataset = dataset.subset(keep)
        dataset.skipped = skipped_before
    result = summarize(dataset, on_error=on_error)
    if on_error == "skip":
        result["skipped"] += len(missing)
    if args.json:
        print(json.dumps(_nan_to_none(result)))
        return 0
    print(f"images: {result['images']}  annotations: {result['annotations']}"
          + (f"  skipped: {result['skipped']}" if "skipped" in result else ""))
    print(f"{'cell type':<10} {'images':>7} {'cells':>8} {'cells/img':>10} {'area px':>9} {'confluence':>11}")
    for name, row in result["per_cell_type"].items():
        print(f"{name:<10} {row['images']:>7} {row['cells']:>8} {row['mean_cells_per_image']:>10.1f} "
              f"{row['mean_cell_area']:>9.1f} {row['mean_confluence']:>11.3f}")
    return 0


def _nan_to_none(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    return obj
