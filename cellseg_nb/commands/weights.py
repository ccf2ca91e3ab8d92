"""``cellseg-nb weights list|download|info``: the model zoo and what a weights file holds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "weights"
HELP = "model zoo: list published weights, download one (resumable, checked), inspect any weights file"
DESCRIPTION = (
    "list: the model zoo (LIVECell's CenterMask V-99 models, centermask2's COCO models and ImageNet VoVNets, "
    "timm's ImageNet VoVNets) with architecture, training data, size, licence and URL. download NAME: fetch "
    "into the cache ($CELLSEG_NB_HOME/weights, default ~/.cache/cellseg-nb/weights) or --dest, resuming an "
    "interrupted transfer and checking size and sha256 where known. info FILE: format, inferred architecture, "
    "tensors, parameters, stored normalisation and a finite check. Zoo names and local files are accepted "
    "alike; overrides and mirrors for air-gapped servers: docs/weights.md."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    listing = sub.add_parser("list", help="the model zoo")
    listing.add_argument("--json", action="store_true", help="one JSON list of entries instead of a table")
    get = sub.add_parser("download", help="download a zoo entry (resumable, size and sha256 checked)")
    get.add_argument("name", help="zoo name (`cellseg-nb weights list`)")
    get.add_argument("--dest", type=Path, default=None, help="folder to download into (default: the cache)")
    get.add_argument("--sha256", default=None, help="expected sha256 (hex) when the zoo does not record one")
    get.add_argument("--retries", type=int, default=5, help="failed attempts in a row without progress (default 5)")
    get.add_argument("--timeout", type=float, default=60.0, help="socket time-out in seconds (default 60)")
    get.add_argument("--no-progress", action="store_true", help="no progress bar")
    info = sub.add_parser("info", help="what a weights file (or a cached zoo entry) holds")
    info.add_argument("file", help="weights file, or the name of a downloaded zoo entry")
    info.add_argument("--json", action="store_true", help="JSON instead of text")


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e6:.1f} MB"


def _list(args: argparse.Namespace) -> int:
    from ..weights import zoo_entries

    entries = list(zoo_entries().values())
    if args.json:
        print(json.dumps([e.as_dict() for e in entries], indent=2))
        return 0
    for e in entries:
        arch = e.model + (f" {e.config}" if e.config else "")
        print(f"{e.name}\n    {e.scope} | {arch}\n    trained on {e.trained_on} | {_size(e.size)} | "
              f"sha256 {e.sha256 or 'unknown'} | {e.licence}\n    {e.url}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from ..data.download_http import RetryPolicy
    from ..errors import ConfigError
    from ..outputs import check_output_dir
    from ..weights import download_entry, zoo_entry

    entry = zoo_entry(args.name)
    if entry is None:
        raise ConfigError(f"unknown zoo entry {args.name!r}; `cellseg-nb weights list` shows the names")
    if args.dest is not None:
        check_output_dir(args.dest, "--dest")
    path = download_entry(entry, args.dest, progress=not args.no_progress, sha256=args.sha256,
                          policy=RetryPolicy(retries=args.retries, timeout_s=args.timeout))
    print(f"{entry.name}: {path} ({path.stat().st_size} bytes; licence {entry.licence})")
    return 0


def _info(args: argparse.Namespace) -> int:
    from ..weights import resolve_weights
    from ..weights.info import describe

    facts = describe(resolve_weights(args.file, download=False))
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        for key, value in facts.items():
            print(f"{key}: {value}")
    return 0


def run(args: argparse.Namespace) -> int:
    return {"list": _list, "download": _download, "info": _info}[args.action](args)
