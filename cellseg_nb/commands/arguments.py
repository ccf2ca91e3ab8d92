"""Argument types shared by every subcommand: ranges and kinds checked when the command line is parsed.

Each helper is an ``argparse`` ``type=`` callable: a bad value becomes the one-line
``cellseg-nb COMMAND: error: argument --x: ...`` message (exit status 2) before any work starts.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Callable

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


def probability(text: str) -> float:
    """A finite number in [0, 1] (score thresholds, overlap fractions)."""
    value = _float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a value in [0, 1], got {text}")
    return value


def positive_int(text: str) -> int:
    """A whole number > 0 (counts, factors, sizes)."""
    value = _int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """A whole number >= 0 (retries)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text}")
    return value


def seed(text: str) -> int:
    """A random seed: a whole number in [0, 2**32) (what numpy's and torch's generators accept everywhere)."""
    value = _int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2**32), got {text}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (time-outs)."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


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
