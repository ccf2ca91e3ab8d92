"""``cellseg-nb synth``: the cut-and-paste synthetic extension of a LIVECell-format dataset."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .arguments import existing_dir, existing_file, non_negative_int, number_pair, positive_int, probability, seed

NAME = "synth"
HELP = "extend a LIVECell-format dataset with cut-and-paste synthetic images (K per source image)"
DESCRIPTION = (
    "Cut the annotated cells of each cell type out of the source images, estimate each image's cell-free "
    "background and write --factor synthetic images per source image with the cells at new positions, "
    "orientations and densities. Output under --dest in LIVECell's layout: the images (originals linked), "
    "annotations/LIVECell/<stem>_synthetic.json, <stem>_extended.json (originals + synthetic) and "
    "<stem>_synth_summary.json. Density: uniform (counts uniform over a range, the study's scheme), "
    "matched (counts drawn from the real per-type distribution) or --confluence-range LO,HI. "
    "The set is written into a hidden folder beside --dest and swapped in at the end; --dest must be new, "
    "empty or an earlier synthetic set (never the source) unless --overwrite is given. "
    "--convert accepts RGB and 16-bit source images (see docs/reliability.md for the rule)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--annotations", required=True, type=existing_file, help="source COCO json (LIVECell format)")
    parser.add_argument("--images", required=True, type=existing_dir,
                        help="source image folder (nested or flat layout)")
    parser.add_argument("--dest", required=True, type=Path, help="output folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --dest even when it holds other files (its whole content is removed)")
    parser.add_argument("--factor", type=positive_int, default=5, metavar="K",
                        help="synthetic images per source image (default 5)")
    parser.add_argument("--density", choices=("uniform", "matched"), default=None,
                        help="cell-count mode (default uniform; not with --confluence-range)")
    parser.add_argument("--confluence-range", type=number_pair(probability), default=None, metavar="LO,HI",
                        help="covered fraction drawn uniformly from LO..HI, e.g. 0.2,0.5")
    parser.add_argument("--count-range", type=number_pair(non_negative_int), default=None, metavar="LO,HI",
                        help="uniform mode: cell counts LO..HI instead of the 5-55%% coverage default")
    parser.add_argument("--rotation", choices=("arbitrary", "right_angles", "none"), default="arbitrary",
                        help="cell rotations (default arbitrary angles)")
    parser.add_argument("--max-overlap", type=probability, default=0.15,
                        help="fraction of a cell that others may cover, in [0, 1] (default 0.15)")
    parser.add_argument("--cell-types", nargs="+", default=None, metavar="TYPE",
                        help="only these lines (any spelling); default every line in the source")
    parser.add_argument("--seed", type=seed, default=0, help="random seed, 0 <= seed < 2**32 (default 0)")
    parser.add_argument("--convert", action="store_true",
                        help="convert RGB / 16-bit / float source images to 8-bit grayscale instead of refusing them")
    parser.add_argument("--no-link-originals", action="store_true",
                        help="do not link/copy the original images into --dest")
    parser.add_argument("--compare", action="store_true",
                        help="also measure both sets and write features, distances and a PCA plot to DEST/report/")


def run(args: argparse.Namespace) -> int:
    from ..atomic import check_replaceable
    from ..data.images import image_conversion
    from ..errors import ConfigError
    from ..synth import (BankConfig, ComposeConfig, DensityConfig, SynthConfig, check_confluence_range,
                         compare_sets, generate_synthetic_dataset)
    from ..synth.writer import check_sources_outside, earlier_synth_output

    if args.confluence_range is not None and args.density is not None:
        raise ConfigError("--density and --confluence-range exclude each other: pick one density mode")
    if args.count_range is not None and (args.confluence_range is not None or args.density == "matched"):
        raise ConfigError("--count-range applies to the uniform density mode only")
    check_sources_outside(args.dest, [args.annotations, args.images])
    check_replaceable(args.dest, "synth", overwrite=args.overwrite, earlier_output=earlier_synth_output)
    try:
        if args.confluence_range is not None:
            density = DensityConfig(mode="range", confluence_range=check_confluence_range(
                args.confluence_range, "--confluence-range"))
        else:
            density = DensityConfig(mode=args.density or "uniform", count_range=args.count_range)
        types = None
        if args.cell_types:
            from ..celltypes import canonical_cell_type

            types = tuple(canonical_cell_type(t) for t in args.cell_types)
        config = SynthConfig(factor=args.factor, seed=args.seed, density=density,
                             compose=ComposeConfig(rotation=args.rotation, max_overlap=args.max_overlap),
                             bank=BankConfig(), cell_types=types,
                             link_originals=not args.no_link_originals)
    except (ValueError, KeyError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"synth: {exc.args[0] if exc.args else exc}") from None
    start = time.perf_counter()
    with image_conversion(args.convert):
        result = generate_synthetic_dataset(args.annotations, args.images, args.dest, config,
                                            overwrite=args.overwrite)
    elapsed = time.perf_counter() - start
    print(f"wrote {result.images_written} synthetic images ({result.cells_written} cells) to {result.dest} "
          f"in {elapsed:.1f} s")
    for cell_type, stats in result.per_type.items():
        counts = stats["counts"]
        print(f"  {cell_type}: {stats['synthetic_images']} images from {stats['source_images']} sources, "
              f"bank {stats['bank_cells']} cells, {min(counts)}-{max(counts)} cells per image"
              + (f", {stats['shortfalls']} below target" if stats["shortfalls"] else ""))
    if result.shortfalls:
        print(f"note: {result.shortfalls} image(s) hold fewer cells than asked (the image filled up under the "
              f"overlap bound); see {result.summary_json.name}")
    print(f"synthetic only: {result.synthetic_json}")
    print(f"extended:       {result.extended_json}")
    if args.compare:
        report = args.dest / "report"
        with image_conversion(args.convert):
            comparison = compare_sets(args.annotations, args.images, result.synthetic_json, args.dest / "images",
                                      report)
        print(comparison.distances.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(f"report: {report}")
    return 0
