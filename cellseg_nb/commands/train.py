"""``cellseg-nb train``: train any model family from a YAML config (``--set key=value`` overrides)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "train"
HELP = "train a U-Net, the per-cell-type ensemble or CenterMask from a YAML config"
DESCRIPTION = ("Train from a YAML config (see configs/unet*.yaml and docs/training.md). Runs under torchrun for "
               "DistributedDataParallel. --set overrides config keys, e.g. --set optim.lr=3e-4 --set steps=2000.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="YAML training config")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (dotted, value parsed as YAML); repeatable")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in output_dir")


def run(args: argparse.Namespace) -> int:
    from ..train import load_config, train

    overrides = list(args.overrides) + (["resume=true"] if args.resume else [])
    result = train(load_config(args.config, overrides))
    print(f"steps: {result.steps}  last checkpoint: {result.last_checkpoint}")
    if result.best_checkpoint is not None:
        print(f"best checkpoint: {result.best_checkpoint} (metric {result.best_metric:.4f})")
    print(f"metrics log: {result.metrics_log}")
    return 0
