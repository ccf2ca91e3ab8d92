"""The run folder: what notebooks hand each other and what the report index shows.

Layout of ``runs/<name>/``::

    01_explore_data.ipynb            executed notebooks (kept when they fail)
    status.json                      per-notebook status, duration and error (written by the runner)
    artifacts/<notebook>/<table>.csv headline tables, with <table>.meta.json (title, caption)
    artifacts/<notebook>/<fig>.png   headline figures, with <fig>.meta.json
    predictions/<model>.json         COCO results json per model, shared between notebooks
    models/<model>/                  checkpoints written by the training notebooks

Notebooks write through :class:`RunArtifacts` so every file is written atomically and the index knows
the title of each table and figure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..atomic import atomic_path, atomic_write_json, atomic_write_text
from ..errors import DataError

ARTIFACTS = "artifacts"
PREDICTIONS = "predictions"
MODELS = "models"


def _check_name(name: str) -> str:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"artifact name must be a plain file stem, got {name!r}")
    return name


@dataclass(frozen=True)
class Artifact:
    """One saved table or figure as the index sees it."""

    notebook: str
    name: str
    kind: str  # "table" or "figure"
    path: Path
    title: str
    caption: str


class RunArtifacts:
    """Read and write one notebook's artifacts inside a run folder."""

    def __init__(self, run_dir: str | Path, notebook: str) -> None:
        self.run_dir = Path(run_dir)
        self.notebook = _check_name(notebook)

    @property
    def folder(self) -> Path:
        return self.run_dir / ARTIFACTS / self.notebook

    def _write_meta(self, name: str, kind: str, title: str | None, caption: str) -> None:
        atomic_write_json(self.folder / f"{name}.meta.json",
                          {"kind": kind, "title": title or name.replace("_", " "), "caption": caption}, indent=1)

    def save_table(self, name: str, table: pd.DataFrame, *, title: str | None = None, caption: str = "",
                   index: bool = False) -> Path:
        """Save a headline table as CSV (shown in the report index, read back by later notebooks)."""
        dest = self.folder / f"{_check_name(name)}.csv"
        atomic_write_text(dest, table.to_csv(index=index))
        self._write_meta(name, "table", title, caption)
        return dest

    def save_figure(self, name: str, figure: Any, *, title: str | None = None, caption: str = "",
                    dpi: int = 90) -> Path:
        """Save a matplotlib figure as PNG (embedded in the report index)."""
        dest = self.folder / f"{_check_name(name)}.png"
        with atomic_path(dest) as tmp:
            figure.savefig(tmp, dpi=dpi, bbox_inches="tight")
        self._write_meta(name, "figure", title, caption)
        return dest

    def save_json(self, name: str, obj: Any) -> Path:
        """Save a JSON value for later notebooks (not shown in the index)."""
        return atomic_write_json(self.folder / f"{_check_name(name)}.json", obj, indent=1)

    def load_table(self, name: str, notebook: str | None = None) -> pd.DataFrame:
        """Read a table saved by this or another notebook (``notebook``) of the same run."""
        path = self.run_dir / ARTIFACTS / (notebook or self.notebook) / f"{name}.csv"
        if not path.is_file():
            raise DataError("artifact not found; run the notebook that writes it first "
                            "(cellseg-nb run --only ...)", file=path)
        return pd.read_csv(path)

    def load_json(self, name: str, notebook: str | None = None) -> Any:
        path = self.run_dir / ARTIFACTS / (notebook or self.notebook) / f"{name}.json"
        if not path.is_file():
            raise DataError("artifact not found; run the notebook that writes it first", file=path)
        return json.loads(path.read_text(encoding="utf-8"))

    def prediction_path(self, model: str) -> Path:
        """Where the COCO results json of ``model`` lives: ``runs/<name>/predictions/<model>.json``."""
        return self.run_dir / PREDICTIONS / f"{_check_name(model)}.json"

    def available_predictions(self) -> dict[str, Path]:
        """Every model with saved predictions in this run, by name."""
        folder = self.run_dir / PREDICTIONS
        return {p.stem: p for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}

    def model_dir(self, model: str) -> Path:
        """Checkpoint folder of ``model`` inside the run."""
        return self.run_dir / MODELS / _check_name(model)

    def clear(self) -> None:
        """Remove this notebook's tables and figures (the runner does it before re-executing it)."""
        if self.folder.is_dir():
            for path in self.folder.iterdir():
                if path.is_file():
                    path.unlink()


def list_artifacts(run_dir: str | Path, notebook: str) -> list[Artifact]:
    """Tables and figures of one notebook, in the order they were written."""
    folder = Path(run_dir) / ARTIFACTS / notebook
    if not folder.is_dir():
        return []
    found = []
    for meta_path in folder.glob("*.meta.json"):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        stem = meta_path.name[: -len(".meta.json")]
        suffix = ".csv" if meta.get("kind") == "table" else ".png"
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            found.append((path.stat().st_mtime_ns, Artifact(notebook, stem, meta.get("kind", "table"), path,
                                                            meta.get("title", stem), meta.get("caption", ""))))
    return [a for _, a in sorted(found, key=lambda item: (item[0], item[1].name))]


def newest_run(runs_root: str | Path = "runs") -> Path | None:
    """The run folder under ``runs_root`` whose predictions were written last (a run with a
    ``predictions/*.json``), or ``None`` when there is none: what notebooks that read a run open by default."""
    root = Path(runs_root)
    found = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        files = list((folder / PREDICTIONS).glob("*.json")) if folder.is_dir() else []
        if files:
            found.append((max(f.stat().st_mtime_ns for f in files), folder.name, folder))
    return max(found)[2] if found else None


def choose_run(run_dir: str | Path | None, runs_root: str | Path = "../runs", *,
               fallback: str = "interactive") -> tuple[Path, str]:
    """The run folder a notebook reads and a sentence saying which and why: ``run_dir`` when given,
    else the newest run under ``runs_root`` (:func:`newest_run`), else ``runs_root/fallback``."""
    if run_dir:
        return Path(run_dir), f"using run {run_dir} (the run_dir parameter)"
    newest = newest_run(runs_root)
    if newest is not None:
        return newest, (f"using the newest run under {runs_root}: {newest} "
                        "(set the run_dir parameter to choose another)")
    chosen = Path(runs_root) / fallback
    return chosen, (f"no run with predictions under {runs_root}; using {chosen} (only the classical "
                    "baseline until a training notebook writes predictions there)")
