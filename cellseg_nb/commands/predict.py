"""``cellseg-nb predict``: COCO results (RLE masks + scores) from any checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "predict"
HELP = "predict instances with a trained checkpoint; writes COCO results json (and label TIFFs)"
DESCRIPTION = ("With --annotations, predicts the images of that COCO json (ids from the json; score the output "
               "with `cellseg-nb evaluate`). Without it, predicts every image under --images and keys the "
               "results by file name.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path, help="checkpoint written by `cellseg-nb train`")
    parser.add_argument("--images", required=True, type=Path, help="image root (LIVECell layout) or folder")
    parser.add_argument("--annotations", type=Path, default=None, help="COCO json whose images to predict")
    parser.add_argument("--out", required=True, type=Path, help="COCO results json to write")
    parser.add_argument("--labels", type=Path, default=None, metavar="DIR", help="also write uint16 label TIFFs")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    parser.add_argument("--score-threshold", type=float, default=0.0, help="drop instances scoring below")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..train.predict import predict_dataset, predict_folder

    kwargs = dict(device=args.device, score_threshold=args.score_threshold, labels_dir=args.labels,
                  progress=not args.no_progress)
    if args.annotations is not None:
        results = predict_dataset(args.checkpoint, args.annotations, args.images, args.out, **kwargs)
    else:
        results = predict_folder(args.checkpoint, args.images, args.out, **kwargs)
    print(f"{len(results)} instances -> {args.out}")
    return 0
