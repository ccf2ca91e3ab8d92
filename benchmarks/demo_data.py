"""Benchmark the demo data generator: images per second on one core, per cell line and overall.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/demo_data.py [--images-per-type 4] [--seed 0]
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/demo_data.py --compare --figure docs/figures/demo_vs_real.png
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/demo_data.py --baseline 16

``--compare`` prints the measured-vs-generated table of docs/demo-data.md (each real sample image
matched by a simulated one of the same line and elapsed time, 3 simulations per real image);
``--figure`` writes each line's real and simulated crop side by side; ``--baseline N`` generates a demo
set with N training images per line and scores the classical baseline on its test split.

Reports (1) generation alone (simulate + render, no disk) per line at 0, 48 and 96 h, and (2) the
whole ``generate_demo_dataset`` call (simulate, render, LZW TIFF and json writes) for
``--images-per-type`` images per line, as wall time and images/s. Run on one core
(``OMP_NUM_THREADS=1``); the project's machine is shared, so wall-clock numbers vary by tens of percent
and the CPU-time rate (``time.process_time``) is the steadier one-core figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cellseg_nb.celltypes import CELL_TYPES  # noqa: E402
from cellseg_nb.demo import generate_demo_dataset, generate_image, split_sizes  # noqa: E402
from cellseg_nb.demo.growth import Acquisition  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images-per-type", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=Path, default=REPO.parent / "shared" / "data" / "livecell-sample")
    parser.add_argument("--compare", action="store_true", help="print the real-vs-demo statistics table")
    parser.add_argument("--figure", type=Path, default=None, help="write the real-vs-demo figure here")
    parser.add_argument("--baseline", type=int, default=None, metavar="N",
                        help="score the classical baseline on the test split of a demo set with N per line")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    if args.compare:
        print_comparison(args.sample, args.seed)
    if args.figure:
        write_figure(args.sample, args.figure, args.seed)
    if args.baseline:
        score_baseline(args.baseline, args.seed)
    if args.skip_speed:
        return 0

    print("| line | cells at 0 / 48 / 96 h | ms per image (simulate + render) |")
    print("|---|---|---|")
    total_t, total_cpu, total_n = 0.0, 0.0, 0
    for k, cell_type in enumerate(CELL_TYPES):
        counts, times = [], []
        for hours in (0, 48, 96):
            rng = np.random.default_rng([args.seed, k, hours])
            start, cpu = time.perf_counter(), time.process_time()
            demo = generate_image(cell_type, Acquisition("A1", 1, hours, 1), rng)
            times.append(time.perf_counter() - start)
            total_cpu += time.process_time() - cpu
            counts.append(len(demo.polygons))
        total_t += sum(times)
        total_n += len(times)
        print(f"| {cell_type} | {' / '.join(map(str, counts))} | {1000 * np.mean(times):.0f} |")
    print(f"\nsimulate + render: {total_n / total_t:.1f} images/s wall ({1000 * total_t / total_n:.0f} ms/image), "
          f"{total_n / total_cpu:.1f} images/s of CPU time")

    n_images = len(CELL_TYPES) * sum(split_sizes(args.images_per_type).values())
    with tempfile.TemporaryDirectory() as tmp:
        start, cpu = time.perf_counter(), time.process_time()
        generate_demo_dataset(tmp, images_per_type=args.images_per_type, seed=args.seed)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    print(f"generate_demo_dataset(images_per_type={args.images_per_type}): {n_images} images in {wall:.2f} s "
          f"= {n_images / wall:.1f} images/s wall, {n_images / cpu:.1f} images/s of CPU time, including LZW TIFF and "
          f"json writes ({size / 1e6:.1f} MB)")
    return 0


COMPARE_ROWS = (
    ("area_median", "cell area, median (px)", "{:.0f}"),
    ("cells_per_1e4_px", "cells per 10^4 px", "{:.2f}"),
    ("elongation_median", "elongation, median", "{:.2f}"),
    ("solidity_median", "solidity, median", "{:.2f}"),
    ("overlapping_fraction", "cells sharing pixels with another", "{:.2f}"),
    ("covered_fraction", "image covered by cells", "{:.2f}"),
    ("std", "intensity std", "{:.1f}"),
    ("p01", "intensity 1st percentile", "{:.0f}"),
    ("p99", "intensity 99th percentile", "{:.0f}"),
    ("foreground_fraction", "textured (foreground) fraction", "{:.2f}"),
    ("background_noise", "background noise (grey levels)", "{:.2f}"),
)


def print_comparison(sample: Path, seed: int) -> None:
    """Markdown table: real (measured) / demo (generated) per line, images matched by line and time."""
    from cellseg_nb.demo.compare import compare_with_sample

    comp = compare_with_sample(sample, seed=seed, repeats=3)
    types = list(comp["real"])
    print("| statistic | " + " | ".join(types) + " |")
    print("|---" * (len(types) + 1) + "|")
    for key, label, fmt in COMPARE_ROWS:
        cells = []
        for t in types:
            real = comp["real"][t].get(key)
            demo = comp["demo"][t].get(key)
            r = fmt.format(real) if real is not None else "-"
            d = fmt.format(demo) if demo is not None else "-"
            cells.append(f"{r} / {d}")
        print(f"| {label} | " + " | ".join(cells) + " |")


def _busiest_window(img, tile_h: int, tile_w: int) -> tuple[int, int]:
    """Top-left corner of the tile with the highest intensity spread (the most cell texture) on a grid."""
    import numpy as np

    best, corner = -1.0, (0, 0)
    for y0 in range(0, img.shape[0] - tile_h + 1, tile_h // 4):
        for x0 in range(0, img.shape[1] - tile_w + 1, tile_w // 4):
            spread = float(np.std(img[y0:y0 + tile_h, x0:x0 + tile_w]))
            if spread > best:
                best, corner = spread, (y0, x0)
    return corner


def write_figure(sample: Path, dest: Path, seed: int) -> None:
    """Grey PNG: for each line a 200x130 px crop of a real image (left) beside one of a simulated image of the
same elapsed time (right), each at full resolution where its image shows the most cells."""
    from PIL import Image, ImageDraw

    from cellseg_nb.data.images import read_image
    from cellseg_nb.demo.compare import matched_demo_images

    tile_w, tile_h, label_h, gap = 200, 130, 14, 4
    pairs = {}
    for path, demo in matched_demo_images(sample, seed):
        if demo.cell_type not in pairs:
            real = read_image(path)
            pairs[demo.cell_type] = (real, demo.image, path.name)
    cols = 2
    rows = (len(pairs) + cols - 1) // cols
    pair_w = 2 * tile_w + gap
    canvas = Image.new("L", (cols * pair_w + (cols - 1) * 3 * gap, rows * (tile_h + label_h + gap)), 255)
    draw = ImageDraw.Draw(canvas)
    for i, t in enumerate(CELL_TYPES):
        if t not in pairs:
            continue
        real, demo, name = pairs[t]
        x = (i % cols) * (pair_w + 3 * gap)
        y = (i // cols) * (tile_h + label_h + gap)
        for k, img in enumerate((real, demo)):
            y0, x0 = _busiest_window(img, tile_h, tile_w)  # where the cells are, in each image
            crop = Image.fromarray(img[y0:y0 + tile_h, x0:x0 + tile_w])
            canvas.paste(crop, (x + k * (tile_w + gap), y + label_h))
        draw.text((x + 2, y + 1), f"{t} real", fill=0)
        draw.text((x + tile_w + gap + 2, y + 1), f"{t} demo, same elapsed time", fill=0)
    dest.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(dest, optimize=True)
    print(f"wrote {dest} ({dest.stat().st_size / 1e3:.0f} kB)")


def score_baseline(images_per_type: int, seed: int) -> None:
    """Generate a demo set and print the classical baseline's LIVECell-protocol scores on its test split."""
    from cellseg_nb.baseline import segment_dataset
    from cellseg_nb.data.coco import load_coco
    from cellseg_nb.eval import evaluate_instances

    with tempfile.TemporaryDirectory() as tmp:
        generate_demo_dataset(tmp, images_per_type=images_per_type, seed=seed)
        gt = load_coco(Path(tmp) / "annotations" / "LIVECell" / "livecell_coco_test.json")
        start = time.perf_counter()
        results = segment_dataset(gt, Path(tmp) / "images")
        seconds = time.perf_counter() - start
        ev = evaluate_instances(gt, results)
    keys = ("AP", "AP50", "AP75", "AFNR", "F1", "mSA")
    print(f"classical baseline on the demo test split ({len(gt.images)} images, {len(gt.annotations)} cells, "
          f"seed {seed}; segmentation {seconds / len(gt.images):.2f} s/image)")
    print("| set | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, summary in [*ev.per_cell_type.items(), ("all", ev.summary)]:
        print(f"| {name} | " + " | ".join(f"{100 * summary[k]:.1f}" for k in keys) + " |")


if __name__ == "__main__":
    sys.exit(main())
