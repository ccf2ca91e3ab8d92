"""Training configuration: dataclasses loaded from YAML with validation.

Unknown keys and values of the wrong type raise :class:`~cellseg_nb.errors.ConfigError` naming the
dotted key. ``apply_overrides(cfg_dict, ["optim.lr=1e-3", ...])`` implements ``--set``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError


@dataclass
class ModelConfig:
    name: str = "unet"
    kwargs: dict = field(default_factory=dict)


@dataclass
class DataConfig:
    train_annotations: str | None = None
    val_annotations: str | None = None
    images: str | None = None
    cell_types: list | None = None
    crop_size: int = 256
    synthetic: str | None = None
    augment: bool = True
    cache_dir: str | None = None
    num_workers: int = 0


@dataclass
class OptimConfig:
    name: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    grad_clip: float | None = 1.0


@dataclass
class ScheduleConfig:
    name: str = "cosine"
    warmup_steps: int = 0
    step_size: int = 1000
    gamma: float = 0.1
    min_lr_ratio: float = 0.0
    milestones: list | None = None    # "multistep": steps at which the LR is multiplied by gamma


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    steps: int = 1000
    batch_size: int = 4
    checkpoint_every: int = 500
    val_every: int = 0
    val_metric: str = "AP"
    early_stopping_patience: int = 0
    max_nonfinite_steps: int = 10
    log_every: int = 10
    device: str = "auto"
    amp: str = "auto"
    compile: bool = False
    channels_last: bool = False
    seed: int = 0
    output_dir: str = "runs/unet"
    resume: bool = False
    progress: bool = True

    def to_dict(self) -> dict:
        """Plain nested dict (stored in checkpoints; loadable with ``torch.load(weights_only=True)``)."""
        return dataclasses.asdict(self)


_CHOICES = {"optim.name": ("adamw", "sgd"), "schedule.name": ("cosine", "step", "multistep", "constant"),
            "amp": ("auto", "none", "bf16", "fp16")}


def _check_type(key: str, value: Any, annotation: Any) -> Any:
    hint = annotation
    args = typing.get_args(hint)
    is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    allowed = list(args) if args and is_union else [hint]
    if value is None:
        if type(None) in allowed:
            return None
        raise ConfigError(f"{key}: must not be null")
    for a in allowed:
        a = typing.get_origin(a) or a
        if a is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if a is float and isinstance(value, str):  # YAML 1.1 reads 3e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if a is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if a in (str, bool, dict, list) and isinstance(value, a):
            return value
    names = "/".join(getattr(a, "__name__", str(a)) for a in allowed)
    raise ConfigError(f"{key}: expected {names}, got {type(value).__name__} {value!r}")


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(f"{dotted}: unknown key (known: {sorted(fields)})")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            values[key] = _build(hint, value, dotted + ".")
        else:
            value = _check_type(dotted, value, hint)
            if dotted in _CHOICES and value not in _CHOICES[dotted]:
                raise ConfigError(f"{dotted}: must be one of {_CHOICES[dotted]}, got {value!r}")
            values[key] = value
    return cls(**values)


def config_from_dict(data: dict) -> TrainConfig:
    """Validated :class:`TrainConfig` from a nested dict."""
    cfg = _build(TrainConfig, data, "")
    for key in ("steps", "batch_size", "checkpoint_every"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"{key}: must be >= 1, got {getattr(cfg, key)}")
    return cfg


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to a nested dict, in place."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{key}: {p} is not a mapping")
        node[parts[-1]] = yaml.safe_load(raw)
    return data


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config, apply ``overrides`` and validate."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from exc
    try:
        return config_from_dict(apply_overrides(data, list(overrides or [])))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
