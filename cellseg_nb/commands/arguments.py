"""Argument types shared by every subcommand: ranges and kinds checked when the command line is parsed.

Each helper is an ``argparse`` ``type=`` callable: a bad value becomes the one-line
``cellseg-nb COMMAND: error: argument --x: ...`` message (exit status 2) before any work starts.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, Callable

__all__ = ["probability", "positive_int", "non_negative_int", "positive_float", "non_negative_float",
           "existing_file", "existing_dir", "existing_path", "number_pair", "seed"]


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _ranged(name: str, parse: Callable[[str], Any], ok: Callable[[Any], bool], what: str, doc: str):
    """An argparse type: ``parse`` the text, then refuse values failing ``ok`` with "expected <what>"."""
    def check(text: str):
        value = parse(text)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value

    check.__name__ = check.__qualname__ = name
    check.__doc__ = doc
    return check


probability = _ranged("probability", _float, lambda v: 0.0 <= v <= 1.0, "a value in [0, 1]",
                      "A finite number in [0, 1] (score thresholds, overlap fractions).")
positive_int = _ranged("positive_int", _int, lambda v: v > 0, "a whole number > 0",
                       "A whole number > 0 (counts, factors, sizes).")
non_negative_int = _ranged("non_negative_int", _int, lambda v: v >= 0, "a whole number >= 0",
                           "A whole number >= 0 (retries).")
seed = _ranged("seed", _int, lambda v: 0 <= v < 2**32, "a seed in [0, 2**32)",
               "A random seed: a whole number in [0, 2**32) (what numpy's and torch's generators accept).")
positive_float = _ranged("positive_float", _float, lambda v: v > 0, "a number > 0",
                         "A finite number > 0 (time-outs).")
non_negative_float = _ranged("non_negative_float", _float, lambda v: v >= 0, "a number >= 0",
                             "A finite number >= 0.")


def existing_file(text: str) -> Path:
    """A path to an existing regular file (inputs: annotations, results, configs, checkpoints)."""
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: is not a file")
    return path


def existing_dir(text: str) -> Path:
    """A path to an existing folder (image roots)."""
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such folder")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is not a folder")
    return path


def existing_path(text: str) -> Path:
    """A path that exists, file or folder (``evaluate --pred`` takes either)."""
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    return path


def number_pair(kind: Callable[[str], float | int]) -> Callable[[str], tuple]:
    """``LO,HI``: two values of ``kind`` (e.g. :func:`probability`, :func:`positive_int`) with LO <= HI."""
    def parse(text: str) -> tuple:
        parts = text.split(",")
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(f"expected LO,HI (two numbers separated by a comma), got {text!r}")
        lo, hi = kind(parts[0].strip()), kind(parts[1].strip())
        if lo > hi:
            raise argparse.ArgumentTypeError(f"expected LO <= HI, got {text}")
        return lo, hi

    parse.__name__ = f"pair of {getattr(kind, '__name__', 'values')}"
    return parse
