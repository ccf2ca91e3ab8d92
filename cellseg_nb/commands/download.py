"""``cellseg-nb download livecell``: fetch LIVECell into the official layout, resumably and checked."""

from __future__ import annotations

import argparse
from pathlib import Path

from .arguments import non_negative_int, positive_float

NAME = "download"
HELP = "download LIVECell (images, annotations) into the official layout, resumable"
DESCRIPTION = (
    "Download LIVECell from its official S3 bucket (or a mirror given with --base-url) into DEST in the "
    "official layout: images/livecell_{train_val,test}_images/<CellType>/*.tif and annotations/... . "
    "Interrupted downloads resume from DEST/**/*.part on the next run; every file is checked against the size "
    "the server announces (LIVECell publishes no checksums) and gets its final name only when complete. "
    "A second run on a complete DEST makes no request (see DEST/livecell_download_manifest.json). "
    "Data licence: CC BY-NC 4.0."
)


def _parts(text: str) -> tuple[str, ...]:
    from ..data.download import parse_parts
    from ..errors import ConfigError

    try:
        return parse_parts(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..data.download import DEFAULT_BASE_URL, DEFAULT_PARTS, PARTS

    parser.add_argument("dataset", choices=["livecell"], help="dataset to download (only livecell)")
    parser.add_argument("--dest", required=True, type=Path, help="destination folder (created if missing)")
    parser.add_argument("--parts", type=_parts, default=DEFAULT_PARTS,
                        help=f"comma-separated parts: {', '.join(PARTS)} or all (default: {','.join(DEFAULT_PARTS)})")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL,
                        help="URL of the LIVECell_dataset_2021/ folder (default: the official bucket)")
    parser.add_argument("--retries", type=non_negative_int, default=5,
                        help="failed attempts in a row without progress before a file is given up (default 5)")
    parser.add_argument("--timeout", type=positive_float, default=60.0,
                        help="socket time-out in seconds, > 0 (default 60)")
    parser.add_argument("--delete-archive", action="store_true", help="delete images.zip once it is unpacked")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    import logging

    from ..data.download import download_livecell
    from ..data.download_http import RetryPolicy
    from ..outputs import check_output_dir

    check_output_dir(args.dest, "--dest")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = download_livecell(args.dest, parts=args.parts, base_url=args.base_url, progress=not args.no_progress,
                               policy=RetryPolicy(retries=args.retries, timeout_s=args.timeout),
                               keep_archive=not args.delete_archive)
    print(report.summary(), flush=True)
    return 0
