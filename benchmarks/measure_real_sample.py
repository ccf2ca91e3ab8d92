"""Measure the real LIVECell sample: the numbers the demo generator's morphologies are tuned to.

Usage::

    .venv/bin/python benchmarks/measure_real_sample.py [--sample ../shared/data/livecell-sample] [--json OUT]
    .venv/bin/python benchmarks/measure_real_sample.py --sample DEMO_DIR --split train   # a generated set

Image statistics (all 37 images, by cell type): median, 1st/99th percentile, background level and noise
(pixels whose local standard deviation is in the lowest third), foreground fraction (local standard
deviation in a 7x7 window above 2.5x the background's), bright-halo fraction (pixels above median + 3
background sigmas). Cell statistics (the 5 annotated images: BT474, Huh7, MCF7): cells per image,
cells per 10^4 px of image, polygon area, elongation (major/minor axis of the moment ellipse), solidity
(area / convex-hull area), fraction of cells sharing at least one pixel with another (touching or
overlapping), covered fraction of the image; and the intensity profile across outlines (interior eroded
3 px, the 3 px band inside the outline, the 3 px ring outside: mean minus 128, interior std).
Run it through :func:`cellseg_nb.demo.measure.image_statistics` / ``cell_statistics`` so the generated
set is measured the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cellseg_nb.celltypes import parse_file_name  # noqa: E402
from cellseg_nb.data.coco import load_coco  # noqa: E402
from cellseg_nb.data.images import read_image  # noqa: E402
from cellseg_nb.demo.measure import (  # noqa: E402
    boundary_statistics,
    cell_statistics,
    image_statistics,
    summarize_by_type,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=Path, default=REPO.parent / "shared" / "data" / "livecell-sample")
    parser.add_argument("--split", default="val", help="annotation file livecell_coco_<split>.json (default val)")
    parser.add_argument("--json", type=Path, default=None, help="write the per-type summary here")
    args = parser.parse_args()

    image_rows = []
    for path in sorted((args.sample / "images").rglob("*.tif")):
        row = image_statistics(read_image(path))
        row["cell_type"] = parse_file_name(path.name).cell_type
        row["file_name"] = path.name
        image_rows.append(row)
    ds = load_coco(args.sample / "annotations" / "LIVECell" / f"livecell_coco_{args.split}.json")
    cell_rows = cell_statistics(ds)
    summary = summarize_by_type(image_rows, cell_rows)
    for row in boundary_statistics(ds, args.sample / "images"):
        entry = summary[row["cell_type"]]
        for key in ("interior_offset", "interior_std", "inner_band_offset", "outer_ring_offset"):
            entry.setdefault(key + "_per_image", []).append(round(row[key], 1))
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
