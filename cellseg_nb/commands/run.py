"""``cellseg-nb run``: execute the notebooks of a run config and write reports/<name>/index.html."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .arguments import existing_file, seed

NAME = "run"
HELP = "execute the notebooks with papermill and build the HTML reports"
DESCRIPTION = (
    "Execute the notebooks listed in a run config in order (papermill, this interpreter's kernel), write the "
    "executed copies to runs/<name>/, HTML reports (with and without code) to reports/<name>/ and the index "
    "reports/<name>/index.html. A failing notebook stops the run and is named with its failing cell."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=existing_file, help="run config YAML (e.g. configs/demo.yaml)")
    parser.add_argument("--only", default=None,
                        help="comma-separated notebook prefixes to re-run (e.g. 03,05); others' artifacts are reused")
    parser.add_argument("--seed", type=seed, default=None, help="override the config's seed (0 <= seed < 2**32)")
    parser.add_argument("--name", default=None,
                        help="override the run name (runs/<name>, reports/<name>; must stay inside both)")
    parser.add_argument("--data-root", type=Path, default=None, help="override the config's data root")
    parser.add_argument("--device", default=None, help="override the config's device (cpu, cuda, cuda:1)")
    parser.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")


def run(args: argparse.Namespace) -> int:
    from ..pipeline import NotebookFailed, load_run_config, run_pipeline

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = load_run_config(args.config).with_overrides(
        seed=args.seed, name=args.name, data_root=args.data_root, device=args.device)
    only = [part.strip() for part in args.only.split(",") if part.strip()] if args.only else None
    try:
        run_pipeline(config, only, progress=not args.no_progress, say=lambda msg: print(msg, flush=True))
    except NotebookFailed as exc:
        print(f"cellseg-nb run: {exc}", file=sys.stderr)
        print(f"cellseg-nb run: report so far: {config.report_dir / 'index.html'}", file=sys.stderr)
        return 1
    return 0
