"""The ``cellseg-nb`` command: one entry point, one subcommand per module in :mod:`cellseg_nb.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when listed here so ``cellseg-nb --help`` stays fast and a missing optional
dependency of one command does not break the others.

One error path: every user error (a bad argument, our own :class:`~cellseg_nb.errors.CellsegError`,
and OSError / JSON / YAML / image-decoding errors raised by the user's files) ends as one line
``cellseg-nb COMMAND: error: ...`` naming the file (and record) on stderr, exit status 2. A traceback is
printed only with ``--debug`` (anywhere on the command line) or for a real bug.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
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
    "weights",
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


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: ``cellseg-nb COMMAND: error: ...`` (no usage block), exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (used by ``main`` and by the docs tests)."""
    parser = _Parser(
        prog="cellseg-nb",
        description="Cell segmentation on LIVECell: data, synthetic data, training, evaluation, reports.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (allowed anywhere on the command line)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in _available_commands():
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def one_line(message: str) -> str:
    """Collapse a (possibly multi-line) message into one line: line breaks become '; '."""
    return re.sub(r"\s*\n\s*", "; ", str(message).strip())


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message for an error caused by the user's input, or ``None`` for a real bug.

    User errors: :class:`CellsegError` (ours, names file and record), OSError (missing, unreadable or
    unwritable files, full disks: named by their file), JSON and text-decoding errors, YAML errors and
    Pillow's image errors (undecodable or decompression-bomb images).
    """
    if isinstance(exc, CellsegError):
        return str(exc)
    if isinstance(exc, OSError):
        name = exc.filename
        reason = exc.strerror or str(exc) or type(exc).__name__
        if name is not None and exc.filename2 is not None:
            return f"{name} -> {exc.filename2}: {reason}"
        return f"{name}: {reason}" if name is not None else reason
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: {exc}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text: {exc}"
    yaml = sys.modules.get("yaml")
    if yaml is not None and isinstance(exc, yaml.YAMLError):
        return f"invalid YAML: {exc}"
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(exc, pil.DecompressionBombError):
        return f"image too large to decode safely: {exc}"
    return None


def _one_line_warnings(command: str):
    """Show library warnings (e.g. Pillow on a damaged file) as one ``cellseg-nb COMMAND: warning: ...``
    line each; returns the previous ``warnings.showwarning`` for :func:`main` to restore."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"cellseg-nb {command}: warning: {one_line(str(message))}", file=sys.stderr if file is None else file)

    previous, warnings.showwarning = warnings.showwarning, show
    return previous


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser()
    args = parser.parse_args(argv)
    previous_showwarning = None if debug else _one_line_warnings(args.command)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print(f"cellseg-nb {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly, as other tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        message = user_error_message(exc)
        if debug or message is None:
            raise
        print(f"cellseg-nb {args.command}: error: {one_line(message)}", file=sys.stderr)
        return 2
    finally:
        if previous_showwarning is not None:
            import warnings

            warnings.showwarning = previous_showwarning


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
