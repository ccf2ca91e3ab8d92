"""Train model variants from a notebook and leave their predictions in the run folder.

Notebooks 03 (U-Nets) and 04 (CenterMask) describe what to train with :class:`TrainSettings` and a list
of variants; :func:`train_variants` builds each :mod:`cellseg_nb.train` config (checkpoints under
``runs/<name>/models/<label>/``), trains, predicts the evaluation images into
``runs/<name>/predictions/<label>.json`` and returns the learning curves.

A variant can start from weights instead of random initialisation: ``init_checkpoint`` names a
cellseg-nb checkpoint of the same architecture or, for CenterMask, a centermask2 / LIVECell model-zoo
``.pth`` or a timm VoVNet state dict for the backbone trunk. The weights are loaded into the model before
training, so the run's own checkpoints are self-contained.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..errors import ConfigError
from .artifacts import MODELS
from ..data.splits import SplitData, annotation_path
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
    warmup_steps: int = 0
    weight_decay: float = 1e-4
    num_workers: int = 0
    checkpoint_every: int = 0             # 0 = one checkpoint at the end
    #: further engine settings merged into the config's sections, e.g. ``{"name": "sgd", "momentum": 0.9,
    #: "grad_clip": None}`` and ``{"name": "multistep", "milestones": [80000, 90000], "gamma": 0.1}``
    optim: dict = field(default_factory=dict)
    schedule: dict = field(default_factory=dict)
    #: weights to start from (see :func:`load_initial_weights`); None = random initialisation
    init_checkpoint: str | None = None
    #: per-architecture changes of these settings, e.g. ``{"unet_deep": {"batch_size": 8}}``
    per_model: dict = field(default_factory=dict)

    def for_model(self, model: str) -> "TrainSettings":
        """These settings with ``per_model[model]`` applied (``model_kwargs``, ``optim`` and ``schedule``
        are merged, not replaced)."""
        changes = dict(self.per_model.get(model) or {})
        known = {f.name for f in fields(self)} - {"per_model", "data_root", "run_dir"}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"per_model.{model}: unknown setting(s) {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(known))})")
        for key in ("model_kwargs", "optim", "schedule"):
            if key in changes:
                changes[key] = {**getattr(self, key), **changes[key]}
        return replace(self, **changes)


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
                 "crop_size": settings.crop_size, "synthetic": None if synthetic is None else str(synthetic),
                 "num_workers": settings.num_workers},
        "optim": {"lr": settings.lr, "weight_decay": settings.weight_decay, **settings.optim},
        "schedule": {"name": "cosine", "warmup_steps": settings.warmup_steps, **settings.schedule},
        "steps": settings.steps, "batch_size": settings.batch_size, "val_every": settings.val_every,
        "checkpoint_every": settings.checkpoint_every or settings.steps, "log_every": max(1, min(10, settings.steps // 20 or 1)),
        "device": settings.device, "seed": settings.seed, "progress": False,
        "output_dir": str(run_dir / MODELS / label),
    }


_TIMM_PREFIXES = ("stem.", "stages.", "stem_", "stages_")


def _state_dict_of(payload: Any) -> dict:
    if isinstance(payload, dict):
        for wrapper in ("state_dict", "model"):
            if isinstance(payload.get(wrapper), dict):
                return payload[wrapper]
        return payload
    return {}


def looks_like_timm_backbone(payload: Any) -> bool:
    """True for a plain timm VoVNet state dict (``stem.0...``, ``stages.0...``), not a detector's."""
    keys = [str(k).removeprefix("module.") for k in _state_dict_of(payload)]
    return bool(keys) and any(k.startswith(_TIMM_PREFIXES) for k in keys) \
        and not any(k.startswith(("backbone.", "proposal_generator.", "roi_heads.")) for k in keys)


def load_initial_weights(model: Any, checkpoint: str | Path) -> dict:
    """Load the weights of ``checkpoint`` into ``model`` in place; return what was loaded (a dict with
    ``source``, ``format``, ``loaded``, ``missing``, ``unexpected``, ``shape_mismatch`` counts).

    Three kinds of file, told apart by their content:

    - a cellseg-nb checkpoint (``cellseg-nb train``, a training notebook): same architecture, the weights
      are copied (not the optimiser or step); a tensor of another shape raises DataError;
    - a timm VoVNet state dict (``.pth``/``.pt``/``.safetensors``; CenterMask only): the backbone trunk,
      the classifier ignored; the FPN and heads keep their random initialisation;
    - otherwise a centermask2 / LIVECell model-zoo ``.pth`` (CenterMask only): keys mapped by name, tensors
      of another shape (e.g. an 80-class COCO head) left at their initial values.
    """
    import torch

    from ..errors import DataError

    path = Path(checkpoint)
    if not path.is_file():
        raise DataError("checkpoint to start from not found", file=path)
    payload = None
    if path.suffix != ".safetensors":
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # corrupt files and pickles with code raise several types
            raise DataError(f"cannot load checkpoint with weights_only=True ({type(exc).__name__}: {exc})",
                            file=path) from exc
    if isinstance(payload, dict) and {"model_name", "model"} <= set(payload):
        own = model.state_dict()
        bad = [k for k, v in payload["model"].items() if k in own and tuple(own[k].shape) != tuple(v.shape)]
        if bad:
            raise DataError(f"checkpoint of {payload['model_name']!r} does not fit this model (shape of "
                            f"{bad[0]}); check model_kwargs", file=path)
        missing, unexpected = model.load_state_dict(payload["model"], strict=False)
        return {"source": str(path), "format": "cellseg-nb", "loaded": len(payload["model"]) - len(unexpected),
                "missing": len(missing), "unexpected": len(unexpected), "shape_mismatch": 0}
    if not hasattr(getattr(model, "backbone", None), "body"):
        raise DataError("not a cellseg-nb checkpoint (timm backbone and centermask2 files only fit CenterMask)",
                        file=path)
    if payload is None or looks_like_timm_backbone(payload):
        from ..models.centermask.backbone import load_timm_checkpoint

        found = load_timm_checkpoint(model.backbone.body, path)
        total = len(model.backbone.body.state_dict())
        return {"source": str(path), "format": "timm backbone", "loaded": total - len(found["missing"]),
                "missing": len(found["missing"]), "unexpected": len(found["unexpected"]), "shape_mismatch": 0}
    from ..models.centermask.convert import load_centermask2_checkpoint

    report = load_centermask2_checkpoint(model, path, on_shape_mismatch="skip")
    return {"source": str(path), "format": "centermask2", "loaded": len(report.loaded),
            "missing": len(report.missing), "unexpected": len(report.unexpected),
            "shape_mismatch": len(report.shape_mismatch)}


def initial_model(model: str, settings: TrainSettings) -> tuple[Any, list[dict]]:
    """The model to train when it starts from ``settings.init_checkpoint`` (else ``(None, [])``: the
    engine builds a randomly initialised one)."""
    if not settings.init_checkpoint:
        return None, []
    import torch

    from ..models.registry import build_model

    torch.manual_seed(settings.seed)  # the engine seeds the same way before building a fresh model
    net = build_model(model, **settings.model_kwargs)
    return net, [load_initial_weights(net, settings.init_checkpoint)]


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
    init: list = field(default_factory=list)

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
                "initial weights": ", ".join(r["format"] for r in self.init) or "random",
                "steps": self.result.steps, "final train loss": None if final is None else round(final, 4),
                "best val metric": self.result.best_metric,
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
            own = settings.for_model(model)
            start = time.perf_counter()
            net, init = initial_model(model, own)  # before clearing: it may start from this run's checkpoint
            config = train_config(model, data_kind, own)
            clear_previous_run(config["output_dir"])
            result = train(config, **({} if net is None else {"model": net}))
            trained_s = time.perf_counter() - start
            checkpoint = result.best_checkpoint or result.last_checkpoint
            dest = predictions_dir(settings.run_dir) / f"{label}.json"
            start = time.perf_counter()
            predict_dataset(checkpoint, eval_data.dataset, eval_data.image_root, dest, device=own.device,
                            progress=False)
            per_image = (time.perf_counter() - start) / max(len(eval_data.dataset.images), 1)
            trained.append(TrainedModel(label, model, data_kind, result, dest,
                                        read_history(result.metrics_log, label), trained_s, per_image, init))
    return trained


def training_summary(trained: Sequence[TrainedModel]) -> pd.DataFrame:
    """One row per trained variant (the headline table of the training notebooks)."""
    return pd.DataFrame([t.summary() for t in trained])


def learning_table(trained: Sequence[TrainedModel], split: str = "train") -> pd.DataFrame:
    """Every variant's logged records of one split (``train`` losses or ``val`` metrics), stacked."""
    frames = [t.history[t.history["split"] == split] for t in trained if "split" in t.history]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
