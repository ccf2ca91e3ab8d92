"""Errors that tell the user which file, which record and what is wrong."""

from __future__ import annotations

from pathlib import Path


class CellsegError(Exception):
    """Base class of every error the package raises on purpose."""


class DataError(CellsegError, ValueError):
    """Bad input data: names the file, the record (when there is one) and the problem."""

    def __init__(self, problem: str, *, file: str | Path | None = None, record: str | None = None) -> None:
        self.problem = problem
        self.file = None if file is None else str(file)
        self.record = record
        parts = []
        if self.file is not None:
            parts.append(self.file)
        if record is not None:
            parts.append(record)
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {problem}" if prefix else problem)


class ConfigError(CellsegError, ValueError):
    """A configuration value that is unknown, of the wrong type or out of range; names the key."""


class OutputError(CellsegError, ValueError):
    """An output path that cannot be written (wrong kind, unwritable, outside its root); names what and where.

    Raised before any computation starts, so a long run never ends by failing to save its result.
    """

    def __init__(self, problem: str, *, path: str | Path, what: str) -> None:
        self.problem = problem
        self.path = str(path)
        self.what = what
        super().__init__(f"{what} {self.path}: {problem}")


class TrainingDiverged(CellsegError, RuntimeError):
    """Training produced a non-finite loss or non-finite weights; no checkpoint of that state is kept."""
