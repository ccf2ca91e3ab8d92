"""``cellseg-nb train``: train any model family from a YAML config (``--set key=value`` overrides)."""

from __future__ import annotations

import argparse
from .arguments import existing_file

NAME = "train"
HELP = "train a U-Net, the per-cell-type ensemble or CenterMask from a YAML config"
DESCRIPTION = ("Train from a YAML config (see configs/unet*.yaml and docs/training.md). Runs under torchrun for "
               "DistributedDataParallel. --set overrides config keys, e.g. --set optim.lr=3e-4 --set steps=2000.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=existing_file, help="YAML training config")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (dotted, value parsed as YAML); repeatable")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in output_dir")
    parser.add_argument("--convert", action="store_true",
                        help="convert RGB / 16-bit / float training images to 8-bit grayscale instead of refusing "
                             "them (rule: docs/reliability.md)")


def run(args: argparse.Namespace) -> int:
    from ..data.images import image_conversion
    from ..outputs import check_output_dir
    from ..train import load_config, train

    overrides = list(args.overrides) + (["resume=true"] if args.resume else [])
    config = load_config(args.config, overrides)
    check_output_dir(config.output_dir, "output_dir")  # before any data is loaded or a step is run
    with image_conversion(args.convert):
        result = train(config)
    print(f"steps: {result.steps}  last checkpoint: {result.last_checkpoint}")
    if result.best_checkpoint is not None:
        print(f"best checkpoint: {result.best_checkpoint} (metric {result.best_metric:.4f})")
    print(f"metrics log: {result.metrics_log}")
    return 0
