"""The ``cellseg-nb`` command: one entry point, one subcommand per module in :mod:`cellseg_nb.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when listed here so ``cellseg-nb --help`` stays fast and a missing optional
dependency of one command does not break the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from . import __version__
from .errors import CellsegError

#: Subcommand modules under ``cellseg_nb.commands``, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "summarize",
    "download",
    "demo_data",
    "evaluate",
    "synth",
    "train",
    "predict",
    "run",
)


def _available_commands() -> list:
    modules = []
    for name in COMMANDS:
        try:
            modules.append(importlib.import_module(f"cellseg_nb.commands.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"cellseg_nb.commands.{name}":
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (used by ``main`` and by the docs tests)."""
    parser = argparse.ArgumentParser(
        prog="cellseg-nb",
        description="Cell segmentation on LIVECell: data, synthetic data, training, evaluation, reports.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in _available_commands():
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except CellsegError as exc:
        print(f"cellseg-nb {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cellseg-nb {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
