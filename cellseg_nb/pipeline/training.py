"""Train model variants from a notebook and leave their predictions in the run folder.

Notebooks 03 (U-Nets), 04 (CenterMask) and 08 (single cell types) describe training with the one
training-config schema (:mod:`cellseg_nb.train.config`): ``base_config`` names a YAML of ``configs/``
(``"{model}"`` picks the one named like each model) and ``train`` is a partial config in the same keys
(nested or dotted: ``{"optim": {"lr": 1e-3}}`` or ``{"optim.lr": 1e-3}``); ``per_model`` adds changes for
one architecture. :func:`plan_variants` composes and validates every variant's config before anything
trains; the run owns the keys that say where things are (data paths, output folder, device, seed).
:func:`train_variants` trains each variant (checkpoints under ``runs/<name>/models/<label>/``), predicts the
evaluation images into ``runs/<name>/predictions/<label>.json`` and returns the learning curves.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from ..celltypes import canonical_cell_type
from ..data.splits import SplitData, pick_images, split_annotations
from ..errors import ConfigError
from ..train.config import TrainConfig, compose_config
from .artifacts import MODELS
from .predictions import predictions_dir

TRAIN_DATA = ("original", "extended")


def variant_label(model: str, train_data: str) -> str:
    """``unet`` on original data -> ``unet``; on the extended set -> ``unet_synth``."""
    if train_data not in TRAIN_DATA:
        raise ConfigError(f"train_data must be one of {', '.join(TRAIN_DATA)}, got {train_data!r}")
    return model if train_data == "original" else f"{model}_synth"


@dataclass(frozen=True)
class Variant:
    """One model to train: its label in the run, architecture, training data, validated config, where
    its predictions of the evaluation images go, and the one cell line it learns from (None: all)."""

    label: str
    model: str
    train_data: str
    config: TrainConfig
    predictions: Path
    cell_type: str | None = None


def _run_keys(model: str, train_data: str, label: str, data_root: Path, run_dir: Path, device: str,
              seed: int, validate: bool, cell_type: str | None, status_every_s: float) -> dict[str, Any]:
    """The keys the run owns: where the data and the outputs are, device and seed, and a status line
    instead of a progress bar (a notebook's bar never reaches the terminal of ``cellseg-nb run``). One cell line trains
    on its single-cell-type files when the data root has them, always filtered to that line (which also
    keeps only its synthetic images)."""
    synthetic = None
    if train_data == "extended":
        synthetic = run_dir / "synthetic"
        if not synthetic.is_dir():
            raise ConfigError(f"train_data 'extended' needs the synthetic extension in {synthetic}; "
                              "run notebook 02 first (cellseg-nb run --only 02)")
    train_file, _ = split_annotations(data_root, "train", cell_type)
    val, _ = split_annotations(data_root, "val", cell_type)
    data = {"train_annotations": str(train_file), "images": str(data_root / "images"),
            "val_annotations": str(val) if validate and val.is_file() else None,
            "synthetic": None if synthetic is None else str(synthetic)}
    if cell_type is not None:
        data["cell_types"] = [canonical_cell_type(cell_type)]
    return {"model": {"name": model}, "data": data, "device": device, "seed": seed, "progress": False,
            "status_every_s": status_every_s or 30.0, "output_dir": str(run_dir / MODELS / label)}


def single_type_predictions_dir(run_dir: str | Path) -> Path:
    """``predictions/single_type/``: predictions of single-line models, apart from the run's models that
    notebooks 05 and 06 compare on every line."""
    return predictions_dir(run_dir) / "single_type"


def plan_variants(models: Sequence[str], train_data: Sequence[str], *, data_root: str | Path,
                  run_dir: str | Path, base_config: str | None = None, train: Mapping[str, Any] | None = None,
                  per_model: Mapping[str, Mapping[str, Any]] | None = None, device: str = "auto",
                  seed: int = 0, cell_type: str | None = None,
                  per_line: Mapping[str, Mapping[str, Any]] | None = None) -> list[Variant]:
    """Every (training data, model) pair's validated config, in training order.

    Layers, later winning: the schema's defaults, ``base_config`` (``"{model}"`` is replaced by each
    model's name), ``train``, ``per_model[model]``, ``per_line[cell_type]``, then the run's own keys. With
    ``cell_type`` every variant learns from that line only and its label ends in ``_<CellType>``. A bad
    key or value raises ConfigError naming the variant before any training starts.
    """
    per_model = dict(per_model or {})
    unknown = sorted(set(per_model) - set(models))
    if unknown:
        raise ConfigError(f"per_model: {', '.join(unknown)} not among the models trained ({', '.join(models)})")
    line = None if cell_type is None else canonical_cell_type(cell_type)
    line_layer = None
    if per_line:
        lines = {canonical_cell_type(k): v for k, v in per_line.items()}
        line_layer = lines.get(line) if line else None
    root, run = Path(data_root), Path(run_dir)
    plan = []
    for data_kind in train_data:
        for model in models:
            label = variant_label(model, data_kind) + ("" if line is None else f"_{line}")
            base = base_config.format(model=model) if base_config else None
            layers = (train, per_model.get(model), line_layer)
            try:
                draft = compose_config(base, *layers)
                run_keys = _run_keys(model, data_kind, label, root, run, device, seed,
                                     validate=draft.val_every > 0, cell_type=line,
                                     status_every_s=draft.status_every_s)
                config = compose_config(base, *layers, run_keys)
            except ConfigError as exc:
                raise ConfigError(f"variant {label}: {exc}") from exc
            folder = predictions_dir(run) if line is None else single_type_predictions_dir(run)
            plan.append(Variant(label, model, data_kind, config, folder / f"{label}.json", line))
    return plan


def clear_previous_run(output_dir: str | Path) -> None:
    """Remove the metrics log and checkpoints a previous run of a variant left (a re-run starts fresh and
    its learning curve must not include the old run's records)."""
    out = Path(output_dir)
    (out / "metrics.jsonl").unlink(missing_ok=True)
    for old in sorted((out / "checkpoints").glob("*.pt")):
        old.unlink()


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
    init: Any = None          # the load report of the initial weights (None: random initialisation)

    @property
    def final_loss(self) -> float | None:
        """Mean training loss over the last fifth of the logged steps (single steps are noisy)."""
        if "loss" not in self.history or "split" not in self.history:
            return None
        losses = self.history.loc[self.history["split"] == "train", "loss"].dropna()
        return float(losses.tail(max(1, len(losses) // 5)).mean()) if len(losses) else None

    def summary(self) -> dict:
        final = self.final_loss
        return {"model": self.label, "architecture": self.model, "training data": self.train_data,
                "initial weights": "random" if self.init is None else f"{Path(self.init.source).name} ({self.init.format})",
                "steps": self.result.steps, "final train loss": None if final is None else round(final, 4),
                "best val metric": self.result.best_metric,
                "train s": round(self.train_seconds, 1), "predict s/image": round(self.predict_seconds, 3)}


def line_data(data: SplitData, cell_type: str) -> SplitData:
    """The images of one cell line of ``data`` (same annotation file and image root)."""
    return SplitData(pick_images(data.dataset, cell_types=[canonical_cell_type(cell_type)]), data.annotations,
                     data.image_root)


def train_variants(plan: Sequence[Variant], eval_data: SplitData) -> list[TrainedModel]:
    """Train every variant of ``plan`` (from :func:`plan_variants`), predict ``eval_data`` with each
    (a single-line variant: that line's images of it), return them in order."""
    from ..train import train
    from ..train.api import build_training_model
    from ..train.calibrate import calibrate_checkpoint
    from ..train.predict import predict_dataset

    trained = []
    for variant in plan:
        cfg = variant.config
        start = time.perf_counter()
        net, init = build_training_model(cfg)  # before clearing: it may start from this run's checkpoint
        clear_previous_run(cfg.output_dir)
        result = train(cfg, model=net)
        trained_s = time.perf_counter() - start
        checkpoint = result.best_checkpoint or result.last_checkpoint
        if cfg.calibration_images:  # scores that estimate match rates (U-Net features, CenterMask Platt)
            val_file, _ = split_annotations(Path(cfg.data.images).parent, "val", variant.cell_type)
            calibrate_checkpoint(checkpoint, val_file, cfg.data.images, device=cfg.device,
                                 max_images=cfg.calibration_images, seed=cfg.seed, amp=cfg.amp)
        dest = variant.predictions
        data = eval_data if variant.cell_type is None else line_data(eval_data, variant.cell_type)
        start = time.perf_counter()
        predict_dataset(checkpoint, data.dataset, data.image_root, dest, device=cfg.device, progress=False,
                        amp=cfg.amp, channels_last=cfg.channels_last)  # the precision it trained in
        per_image = (time.perf_counter() - start) / max(len(data.dataset.images), 1)
        trained.append(TrainedModel(variant.label, variant.model, variant.train_data, result, dest,
                                    read_history(result.metrics_log, variant.label), trained_s, per_image, init))
    return trained


def training_summary(trained: Sequence[TrainedModel]) -> pd.DataFrame:
    """One row per trained variant (the headline table of the training notebooks)."""
    return pd.DataFrame([t.summary() for t in trained])


def learning_table(trained: Sequence[TrainedModel], split: str = "train") -> pd.DataFrame:
    """Every variant's logged records of one split (``train`` losses or ``val`` metrics), stacked."""
    frames = [t.history[t.history["split"] == split] for t in trained if "split" in t.history]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plan_table(plan: Sequence[Variant]) -> pd.DataFrame:
    """What each variant will do (shown before training starts, and as the caption of its tables)."""
    rows = []
    for v in plan:
        c = v.config
        rows.append({"model": v.label, "architecture": v.model, "training data": v.train_data, "steps": c.steps,
                     "batch": c.batch_size, "crop px": c.data.crop_size, "optimiser": c.optim.name,
                     "lr": c.optim.lr, "schedule": c.schedule.name,
                     "initial weights": c.model.init_weights or "random",
                     "model settings": ", ".join(f"{k}={val}" for k, val in c.model.kwargs.items()) or "defaults"})
    return pd.DataFrame(rows)


def describe_plan(plan: Sequence[Variant]) -> str:
    """One line per variant: steps, batch, crop and learning rate (a table caption)."""
    return "; ".join(f"{v.label}: {v.config.steps} steps of {v.config.batch_size} x {v.config.data.crop_size} px, "
                     f"lr {v.config.optim.lr:g}" for v in plan)
