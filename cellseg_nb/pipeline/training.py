"""Train model variants from a notebook and leave their predictions in the run folder.

Notebooks 03 (U-Nets) and 04 (CenterMask) describe what to train with :class:`TrainSettings` and a list
of variants; :func:`train_variants` builds each :mod:`cellseg_nb.train` config (checkpoints under
``runs/<name>/models/<label>/``), trains, predicts the evaluation images into
``runs/<name>/predictions/<label>.json`` and returns the learning curves.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..errors import ConfigError
from .artifacts import MODELS
from .inputs import SplitData, annotation_path
from .predictions import predictions_dir

TRAIN_DATA = ("original", "extended")


@dataclass(frozen=True)
class TrainSettings:
    """What every variant of one notebook shares (the study's settings live in configs/livecell.yaml)."""

    data_root: str
    run_dir: str
    steps: int = 300
    batch_size: int = 4
    crop_size: int = 256
    lr: float = 1e-3
    val_every: int = 0
    device: str = "auto"
    seed: int = 0
    model_kwargs: dict = field(default_factory=dict)


def variant_label(model: str, train_data: str) -> str:
    """``unet`` on original data -> ``unet``; on the extended set -> ``unet_synth``."""
    if train_data not in TRAIN_DATA:
        raise ConfigError(f"train_data must be one of {', '.join(TRAIN_DATA)}, got {train_data!r}")
    return model if train_data == "original" else f"{model}_synth"


def train_config(model: str, train_data: str, settings: TrainSettings) -> dict:
    """The :mod:`cellseg_nb.train` config dict of one variant."""
    root, run_dir = Path(settings.data_root), Path(settings.run_dir)
    synthetic = None
    if train_data == "extended":
        synthetic = run_dir / "synthetic"
        if not synthetic.is_dir():
            raise ConfigError(f"train_data 'extended' needs the synthetic extension in {synthetic}; "
                              "run notebook 02 first (cellseg-nb run --only 02)")
    label = variant_label(model, train_data)
    val = annotation_path(root, "val")
    return {
        "model": {"name": model, "kwargs": dict(settings.model_kwargs)},
        "data": {"train_annotations": str(annotation_path(root, "train")), "images": str(root / "images"),
                 "val_annotations": str(val) if settings.val_every and val.is_file() else None,
                 "crop_size": settings.crop_size, "synthetic": None if synthetic is None else str(synthetic)},
        "optim": {"lr": settings.lr},
        "steps": settings.steps, "batch_size": settings.batch_size, "val_every": settings.val_every,
        "checkpoint_every": settings.steps, "log_every": max(1, min(10, settings.steps // 20 or 1)),
        "device": settings.device, "seed": settings.seed, "progress": False,
        "output_dir": str(run_dir / MODELS / label),
    }


def read_history(metrics_log: str | Path, label: str) -> pd.DataFrame:
    """The engine's jsonl metrics log as a table with a ``model`` column."""
    path = Path(metrics_log)
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    return pd.DataFrame(rows).assign(model=label) if rows else pd.DataFrame(columns=["step", "split", "model"])


@dataclass
class TrainedModel:
    """One trained variant: its label, the engine's result, its predictions file and learning curve."""

    label: str
    model: str
    train_data: str
    result: Any
    predictions: Path
    history: pd.DataFrame
    train_seconds: float
    predict_seconds: float

    def summary(self) -> dict:
        return {"model": self.label, "architecture": self.model, "training data": self.train_data,
                "steps": self.result.steps, "best val metric": self.result.best_metric,
                "train s": round(self.train_seconds, 1), "predict s/image": round(self.predict_seconds, 3)}


def train_variants(models: Sequence[str], train_data: Sequence[str], settings: TrainSettings,
                   eval_data: SplitData) -> list[TrainedModel]:
    """Train every (model, training data) pair, predict ``eval_data`` with each, return them in order."""
    from ..train import train
    from ..train.predict import predict_dataset

    trained = []
    for data_kind in train_data:
        for model in models:
            label = variant_label(model, data_kind)
            start = time.perf_counter()
            result = train(train_config(model, data_kind, settings))
            trained_s = time.perf_counter() - start
            checkpoint = result.best_checkpoint or result.last_checkpoint
            dest = predictions_dir(settings.run_dir) / f"{label}.json"
            start = time.perf_counter()
            predict_dataset(checkpoint, eval_data.dataset, eval_data.image_root, dest, device=settings.device,
                            progress=False)
            per_image = (time.perf_counter() - start) / max(len(eval_data.dataset.images), 1)
            trained.append(TrainedModel(label, model, data_kind, result, dest,
                                        read_history(result.metrics_log, label), trained_s, per_image))
    return trained


def training_summary(trained: Sequence[TrainedModel]) -> pd.DataFrame:
    """One row per trained variant (the headline table of the training notebooks)."""
    return pd.DataFrame([t.summary() for t in trained])


def learning_table(trained: Sequence[TrainedModel], split: str = "train") -> pd.DataFrame:
    """Every variant's logged records of one split (``train`` losses or ``val`` metrics), stacked."""
    frames = [t.history[t.history["split"] == split] for t in trained if "split" in t.history]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
