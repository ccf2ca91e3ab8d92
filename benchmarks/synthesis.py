"""Time the cut-and-paste synthetic generator: synthetic 704x520 images per second on one core.

Source: the real LIVECell sample (5 annotated images: BT474 x2, Huh7, MCF7 x2; 1,243 cells) unless
``--annotations/--images`` say otherwise. Two measurements, best of ``--repeat`` runs each (the machine
is shared):

1. end to end: ``generate_synthetic_dataset`` with ``--factor`` images per source image (cell banks,
   backgrounds, composition, LZW TIFF and json writes; originals not linked);
2. per stage on one source image per type: background estimation, composition alone at the
   density mode's targets, TIFF write.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/synthesis.py [--factor 10] [--density matched|uniform]
[--seed 0] [--repeat 3] [--json out.json]``; ``--modes-on-demo N --factor 3`` instead compares the
``uniform`` and ``matched`` modes on a fresh demo set (N images per type) by Frechet distance and MMD.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SAMPLE = Path(os.environ.get("CELLSEG_SAMPLE_DATA", REPO.parent / "shared" / "data" / "livecell-sample"))


def end_to_end(annotations: Path, images: Path, factor: int, density: str, seed: int) -> dict:
    from cellseg_nb.synth import DensityConfig, SynthConfig, generate_synthetic_dataset

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        res = generate_synthetic_dataset(annotations, images, tmp, SynthConfig(
            factor=factor, seed=seed, density=DensityConfig(mode=density), link_originals=False))
        elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "images": res.images_written, "cells": res.cells_written,
            "images_per_s": res.images_written / elapsed, "shortfalls": res.shortfalls}


def per_stage(annotations: Path, images: Path, density: str, seed: int, n: int) -> dict:
    from cellseg_nb.data.coco import load_coco
    from cellseg_nb.data.images import read_image, write_image
    from cellseg_nb.data.layout import ImageLocator
    from cellseg_nb.synth import DensityConfig, DensitySampler, build_cell_bank, compose_image, estimate_background
    from cellseg_nb.synth.bank import cell_type_ids
    from cellseg_nb.synth.geometry import rasterize_full

    dataset = load_coco(annotations)
    locator = ImageLocator(images)
    rng = np.random.default_rng(seed)
    out = {}
    for cell_type, ids in cell_type_ids(dataset).items():
        t0 = time.perf_counter()
        bank = build_cell_bank(dataset, locator, cell_type, rng=rng, image_ids=ids)
        t_bank = time.perf_counter() - t0
        rec = dataset.image(ids[0])
        image = read_image(locator.resolve(rec["file_name"]))
        cells = rasterize_full([a["segmentation"][0] for a in dataset.annotations_for(ids[0])], 704, 520)
        t0 = time.perf_counter()
        background = estimate_background(image, cells, rng)
        t_bg = time.perf_counter() - t0
        sampler = DensitySampler(bank, DensityConfig(mode=density), 704 * 520)
        t_compose, n_cells, t_write = 0.0, 0, 0.0
        with tempfile.TemporaryDirectory() as tmp:
            for k in range(n):
                t0 = time.perf_counter()
                composed = compose_image(background, bank, sampler.sample(rng), rng)
                t_compose += time.perf_counter() - t0
                n_cells += len(composed.cells)
                t0 = time.perf_counter()
                write_image(Path(tmp) / f"{k}.tif", composed.image)
                t_write += time.perf_counter() - t0
        out[cell_type] = {"bank_s": t_bank, "bank_cells": len(bank), "background_s": t_bg,
                          "compose_s_per_image": t_compose / n, "cells_per_image": n_cells / n,
                          "us_per_cell": 1e6 * t_compose / max(n_cells, 1), "tiff_write_s": t_write / n}
    return out


def compare_modes_on_demo(images_per_type: int, factor: int, seed: int) -> "object":
    """Distances of uniform vs matched synthetic sets from a fresh demo set (all splits as the source)."""
    import pandas as pd

    from cellseg_nb.data.coco import CocoDataset, load_coco
    from cellseg_nb.demo import generate_demo_dataset
    from cellseg_nb.synth import DensityConfig, SynthConfig, compare_sets, generate_synthetic_dataset

    tables = []
    with tempfile.TemporaryDirectory() as tmp:
        root = generate_demo_dataset(Path(tmp) / "demo", images_per_type=images_per_type, seed=seed)
        parts = [load_coco(root / "annotations" / "LIVECell" / f"livecell_coco_{s}.json") for s in ("train", "val", "test")]
        source = CocoDataset(images=[i for p in parts for i in p.images],
                             annotations=[a for p in parts for a in p.annotations], path=parts[0].path)
        for mode in ("uniform", "matched"):
            dest = Path(tmp) / mode
            res = generate_synthetic_dataset(source, root / "images", dest, SynthConfig(
                factor=factor, seed=seed, density=DensityConfig(mode=mode), link_originals=False))
            table = compare_sets(source, root / "images", res.synthetic_json, dest / "images").distances
            table.insert(0, "mode", mode)
            tables.append(table)
    both = pd.concat(tables)
    return both.pivot_table(index=["features", "cell_type"], columns="mode", values=["frechet", "mmd2"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=Path, default=DEFAULT_SAMPLE / "annotations" / "LIVECell" / "livecell_coco_val.json")
    parser.add_argument("--images", type=Path, default=DEFAULT_SAMPLE / "images")
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--density", choices=("uniform", "matched"), default="matched")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--modes-on-demo", type=int, default=0, metavar="N",
                        help="instead: compare uniform vs matched on a demo set with N images per type")
    args = parser.parse_args(argv)
    if args.modes_on_demo:
        table = compare_modes_on_demo(args.modes_on_demo, args.factor, args.seed)
        print(table.to_string(float_format=lambda v: f"{v:.3f}"))
        return 0
    if not args.annotations.is_file():
        print(f"annotations not found: {args.annotations}", file=sys.stderr)
        return 2
    runs = [end_to_end(args.annotations, args.images, args.factor, args.density, args.seed) for _ in range(args.repeat)]
    best = max(runs, key=lambda r: r["images_per_s"])
    stages = per_stage(args.annotations, args.images, args.density, args.seed, n=5)
    print(f"end to end ({args.density}, factor {args.factor}): {best['images']} images, {best['cells']} cells "
          f"in {best['seconds']:.2f} s = {best['images_per_s']:.2f} images/s (best of {args.repeat}; all: "
          + ", ".join(f"{r['images_per_s']:.2f}" for r in runs) + f"); targets not met: {best['shortfalls']}")
    for cell_type, s in stages.items():
        print(f"  {cell_type}: bank {s['bank_cells']} cells in {s['bank_s']:.2f} s, background {1000 * s['background_s']:.0f} ms, "
              f"compose {1000 * s['compose_s_per_image']:.0f} ms/image ({s['cells_per_image']:.0f} cells, "
              f"{s['us_per_cell']:.0f} us/cell), TIFF write {1000 * s['tiff_write_s']:.0f} ms")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "stages": stages, "args": {k: str(v) for k, v in vars(args).items()}},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
