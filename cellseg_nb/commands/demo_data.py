"""``cellseg-nb demo-data``: write the embedded LIVECell-format demo dataset (no download)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .arguments import positive_int, seed

NAME = "demo-data"
HELP = "generate simulated phase-contrast images in LIVECell's layout and COCO format (no download)"
DESCRIPTION = (
    "Simulate the eight LIVECell lines as 704x520 phase-contrast TIFFs with exact polygon annotations, "
    "written in LIVECell's layout under --dest (images/livecell_{train_val,test}_images/<CellType>/, "
    "annotations/LIVECell/livecell_coco_{train,val,test}.json, annotations/LIVECell_single_cells/). "
    "Per line: train N images, val max(1, N//4), test max(1, N//2). Same seed, same bytes. The dataset is "
    "written into a hidden folder beside --dest and swapped in at the end (an interrupt leaves the old dataset "
    "or the new one); --dest must be new, empty or an earlier demo dataset unless --overwrite is given."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dest", required=True, type=Path, help="folder to write the dataset into")
    parser.add_argument("--images-per-type", type=positive_int, default=8, metavar="N",
                        help="training images per cell line (default 8; val N//4, test N//2, at least 1 each)")
    parser.add_argument("--seed", type=seed, default=0, help="random seed, 0 <= seed < 2**32 (default 0)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --dest even when it holds other files (its whole content is removed)")
    parser.add_argument("--cell-types", nargs="+", default=None, metavar="TYPE",
                        help="only these lines (any spelling, e.g. BT474 SK-OV-3); default all eight")


def run(args: argparse.Namespace) -> int:
    from ..demo import generate_demo_dataset, split_sizes

    types = args.cell_types  # validated by generate_demo_dataset (ConfigError -> exit code 2)
    start = time.perf_counter()
    root = generate_demo_dataset(args.dest, images_per_type=args.images_per_type, seed=args.seed,
                                 cell_types=types, overwrite=args.overwrite)
    sizes = split_sizes(args.images_per_type)
    n_types = 8 if types is None else len(types)
    total = n_types * sum(sizes.values())
    print(f"wrote {total} images ({n_types} line(s); per line train {sizes['train']}, val {sizes['val']}, "
          f"test {sizes['test']}) to {root} in {time.perf_counter() - start:.1f} s")
    print(f"annotations: {root / 'annotations' / 'LIVECell'}")
    return 0
