"""``cellseg-nb predict``: segment any images with any weights -> COCO results json, label TIFFs, table."""

from __future__ import annotations

import argparse
from pathlib import Path

from .arguments import probability

NAME = "predict"
HELP = "segment images with zoo weights, a weights file or a checkpoint; COCO json, label TIFFs, per-image table"
DESCRIPTION = (
    "Without --annotations, predicts every image under --images (folders searched recursively, or files "
    "given directly) and keys the results by file name; with it, predicts that COCO json's images (ids from "
    "the json; score the output with `cellseg-nb evaluate`). Images are read as one grey channel: 8-bit "
    "grey as is; RGB/RGBA as luminance (L = 0.299 R + 0.587 G + 0.114 B); 16-bit and other integer images "
    "scaled by their type's full range to 0..255 (16-bit: v / 257; a 12-bit image stored in 16 bits looks dark: "
    "rescale it first, or use --preprocess livecell, which recentres the median on 128); float images in "
    "[0, 1] or [0, 255] as such, others by their min..max. Label TIFFs are uint16, one per image, named "
    "<image stem>.tif (0 = background; labels by descending score; where instances overlap the higher "
    "score wins): Fiji, napari and CellProfiler open them. Under `torchrun --nproc_per_node N -m "
    "cellseg_nb.cli predict ...` the images are shared across the processes and the results merged.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", metavar="NAME|FILE",
                        help="a zoo name (`cellseg-nb weights list`) or a local weights file: cellseg-nb "
                             "checkpoint, centermask2 / LIVECell .pth")
    source.add_argument("--checkpoint", type=Path, metavar="FILE", help="a checkpoint written by `cellseg-nb train`")
    parser.add_argument("--images", required=True, nargs="+", type=Path, metavar="DIR_OR_FILE",
                        help="image folders (searched recursively) and/or image files; with --annotations "
                             "the image root (LIVECell layout or flat)")
    parser.add_argument("--annotations", type=Path, default=None, metavar="GT.json",
                        help="COCO json whose images to predict (ids and sizes from the json)")
    parser.add_argument("--out", required=True, type=Path, metavar="PRED.json", help="COCO results json to write")
    parser.add_argument("--labels", type=Path, default=None, metavar="DIR", help="also write uint16 label TIFFs")
    parser.add_argument("--table", type=Path, default=None, metavar="CSV",
                        help="also write the per-image table: cell count, confluence, mean and median cell "
                             "area (px), and cell line, well, elapsed hours for LIVECell-style file names")
    parser.add_argument("--preprocess", choices=("none", "livecell"), default="none",
                        help="livecell: LIVECell's normalisation for other microscopes (median to 128, "
                             "75 px median-filter background flattening, clip to 70..180); for images at "
                             "LIVECell's effective 10x magnification (default none)")
    parser.add_argument("--convert", action=argparse.BooleanOptionalAction, default=True,
                        help="convert RGB / 16-bit / float images to 8-bit grey by the rule above (on by default "
                             "for predict, unlike train and synth); --no-convert refuses anything but 8-bit grey")
    parser.add_argument("--min-score", "--score-threshold", dest="min_score", type=probability, default=0.0,
                        help="save only instances scoring at least this value in [0, 1] (default 0: keep all, "
                             "as AP needs; the F1 operating point is evaluate's --score-threshold)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    parser.add_argument("--amp", choices=("none", "auto", "bf16", "fp16"), default="none",
                        help="mixed precision of the forward pass (default none: exact fp32; auto: bf16 on CUDA "
                             "with bf16 and on CPUs that compute bf16 natively, about 3x faster for CenterMask)")
    parser.add_argument("--channels-last", action="store_true",
                        help="channels-last memory format (faster convolutions with --amp on CPU and on CUDA)")
    parser.add_argument("--no-progress", "--batch", dest="no_progress", action="store_true",
                        help="no progress bar (batch jobs, logs)")


def check_outputs(args: argparse.Namespace) -> None:
    """Every output path of the right kind and writable, before any computation."""
    from ..outputs import check_output_dir, check_output_file

    check_output_file(args.out, "--out")
    if args.table is not None:
        check_output_file(args.table, "--table")
    if args.labels is not None:
        check_output_dir(args.labels, "--labels")


def run(args: argparse.Namespace) -> int:
    from ..data.coco import load_coco
    from ..errors import ConfigError
    from ..train.inference import rank_and_world
    from ..train.predict import coco_sources, folder_sources, load_model, run_prediction
    from ..train.runtime import finish_distributed, setup_distributed

    check_outputs(args)
    info = setup_distributed(args.device)
    done = False
    try:
        if args.annotations is not None:
            if len(args.images) != 1:
                raise ConfigError("--images: with --annotations give one image root (LIVECell layout or flat)")
            sources = coco_sources(load_coco(args.annotations), args.images[0])
        else:
            sources = folder_sources(args.images)
        model, device = load_model(args.weights if args.weights is not None else args.checkpoint, args.device)
        run = run_prediction(model, device, sources, out=args.out, labels_dir=args.labels, table=args.table,
                             min_score=args.min_score, preprocess=args.preprocess,
                             convert=args.convert, progress=not args.no_progress, shard=True, amp=args.amp,
                             channels_last=args.channels_last)
        if rank_and_world()[0] == 0:
            extra = "".join(f", {what} -> {path}" for what, path in (("label TIFFs", args.labels),
                                                                     ("table", args.table)) if path)
            print(f"{len(sources)} images, {len(run.records)} instances -> {args.out}{extra}")
        done = True
    finally:
        finish_distributed(info, wait=done)  # every rank done before gloo is torn down
    return 0
