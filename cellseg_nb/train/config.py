"""The one training-config schema: dataclasses loaded from YAML, validated once.

``cellseg-nb train --config FILE --set key=value``, :func:`cellseg_nb.train.train`, the training notebooks
(03, 04, 08) and the run configs of ``cellseg-nb run`` all describe training with this tree: a run config's
notebook parameters name a YAML of ``configs/`` (``base_config``) and a partial override of it (``train``),
both in exactly these keys. Unknown keys, values of the wrong type and values out of range raise
:class:`~cellseg_nb.errors.ConfigError` naming the dotted key.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from ..errors import ConfigError


@dataclass
class ModelConfig:
    name: str = "unet"
    kwargs: dict = field(default_factory=dict)
    #: weights to start from: a model-zoo name (``cellseg-nb weights list``) or a file (cellseg-nb checkpoint,
    #: centermask2 / LIVECell ``.pth``, detectron2 ImageNet backbone, timm ``.pth`` / ``.safetensors``)
    init_weights: str | None = None
    #: key patterns (``fnmatch``) that may be missing or of another shape in ``init_weights``
    init_allow_mismatch: list = field(default_factory=list)


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
    progress: bool = True             # a tqdm bar (terminals, notebooks)
    status_every_s: float = 0.0       # also a plain status line at most this often (logs, cellseg-nb run); 0 = off
    #: after training, U-Net and CenterMask scores are calibrated on up to this many validation images
    #: (cellseg_nb.train.calibrate; the pipeline's training notebooks); 0 = scores stay uncalibrated
    calibration_images: int = 32

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


def _finite(v: float) -> bool:
    return v is not None and math.isfinite(v)


#: Range of every numeric key: (test, what the value must be). Checked once, when a config is built.
_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "optim.lr": (lambda v: _finite(v) and v > 0, "a finite number > 0"),
    "optim.weight_decay": (lambda v: _finite(v) and v >= 0, "a finite number >= 0"),
    "optim.momentum": (lambda v: _finite(v) and 0 <= v < 1, "in [0, 1)"),
    "optim.grad_clip": (lambda v: v is None or (_finite(v) and v > 0), "null or a finite number > 0"),
    "schedule.warmup_steps": (lambda v: v >= 0, ">= 0"),
    "schedule.step_size": (lambda v: v >= 1, ">= 1"),
    "schedule.gamma": (lambda v: _finite(v) and v > 0, "a finite number > 0"),
    "schedule.min_lr_ratio": (lambda v: _finite(v) and 0 <= v <= 1, "in [0, 1]"),
    "schedule.milestones": (lambda v: v is None or (all(isinstance(m, int) and not isinstance(m, bool) and m >= 1
                                                        for m in v) and list(v) == sorted(set(v))),
                            "null or increasing whole numbers >= 1"),
    "data.crop_size": (lambda v: v >= 8, ">= 8 pixels"),
    "data.num_workers": (lambda v: v >= 0, ">= 0"),
    "steps": (lambda v: v >= 1, ">= 1"),
    "batch_size": (lambda v: v >= 1, ">= 1"),
    "checkpoint_every": (lambda v: v >= 1, ">= 1"),
    "val_every": (lambda v: v >= 0, ">= 0 (0 = no validation)"),
    "early_stopping_patience": (lambda v: v >= 0, ">= 0 (0 = never stop early)"),
    "max_nonfinite_steps": (lambda v: v >= 0, ">= 0"),
    "log_every": (lambda v: v >= 1, ">= 1"),
    "seed": (lambda v: v >= 0, ">= 0"),
    "status_every_s": (lambda v: _finite(v) and v >= 0, "a finite number >= 0 (0 = off)"),
    "calibration_images": (lambda v: v >= 0, ">= 0 (0 = no score calibration)"),
}
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
VAL_METRICS = ("AP", "AP50", "AP75", "F1", "pixel_F1")


def _lookup(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def check_ranges(cfg: "TrainConfig") -> "TrainConfig":
    """Raise ConfigError naming the first key whose value is out of range; return ``cfg``."""
    for key, (ok, what) in _RANGES.items():
        value = _lookup(cfg, key)
        if not ok(value):
            raise ConfigError(f"{key}: must be {what}, got {value!r}")
    if not _DEVICE.match(cfg.device):
        raise ConfigError(f"device: expected auto, cpu, mps, cuda or cuda:N, got {cfg.device!r}")
    if cfg.val_metric not in VAL_METRICS:
        raise ConfigError(f"val_metric: must be one of {VAL_METRICS}, got {cfg.val_metric!r}")
    if cfg.schedule.name == "multistep" and not cfg.schedule.milestones:
        raise ConfigError("schedule.milestones: the multistep schedule needs at least one milestone")
    if not cfg.model.name:
        raise ConfigError("model.name: must name a model (cellseg-nb train --help lists them)")
    return cfg


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Validated :class:`TrainConfig` from a nested dict (types, choices and ranges)."""
    return check_ranges(_build(TrainConfig, dict(data), ""))


def _parse_value(key: str, raw: str) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML ({problem})") from None


def _set_dotted(data: dict, key: str, value: Any) -> None:
    """Set ``a.b.c`` in a nested dict; a mapping value is merged into a mapping already there."""
    parts = [p for p in key.strip().split(".")]
    if not all(parts):
        raise ConfigError(f"{key!r}: not a dotted key such as optim.lr")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{key}: {'.'.join(parts[:i + 1])} is not a mapping")
        node = child
    last = parts[-1]
    if isinstance(value, Mapping) and isinstance(node.get(last), dict):
        merge_overrides(node[last], value)
    else:
        node[last] = copy.deepcopy(value)


def merge_overrides(data: dict, overrides: Mapping[str, Any] | None) -> dict:
    """Merge a partial config into ``data`` in place: nested mappings merge key by key, dotted keys
    (``{"optim.lr": 1e-3}``) address nested ones, everything else replaces."""
    if overrides is None:
        return data
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"config overrides: expected a mapping, got {type(overrides).__name__} {overrides!r}")
    for key, value in overrides.items():
        _set_dotted(data, str(key), value)
    return data


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to a nested dict, in place (``--set``)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        _set_dotted(data, key, _parse_value(key.strip(), raw))
    return data


def _configs_dirs() -> list[Path]:
    """Where named configs live: ``./configs`` (the directory commands start in) and the repository's."""
    here = Path.cwd() / "configs"
    repo = Path(__file__).resolve().parents[2] / "configs"
    return [here] if here.resolve() == repo else [here, repo]


def config_names() -> list[str]:
    """Names of the training YAMLs in ``configs/`` (run configs, which have ``notebooks``, excluded)."""
    names = set()
    for folder in _configs_dirs():
        for path in folder.glob("*.yaml"):
            try:
                if "notebooks" not in (yaml.safe_load(path.read_text()) or {}):
                    names.add(path.stem)
            except (OSError, yaml.YAMLError):
                continue
    return sorted(names)


def resolve_config(name_or_path: str | Path) -> Path:
    """A training YAML given as a path or as a name in ``configs/`` (``unet``, ``centermask_v99``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.suffix == "" and path.parent == Path("."):
        for folder in _configs_dirs():
            if (folder / f"{path.name}.yaml").is_file():
                return folder / f"{path.name}.yaml"
    raise ConfigError(f"{name_or_path}: no such config file, nor a name in configs/ "
                      f"(known: {', '.join(config_names()) or 'none'})")


def read_config_dict(name_or_path: str | Path, _seen: tuple[Path, ...] = ()) -> dict:
    """The raw mapping of a training YAML (no validation), for composing with overrides. A YAML may start
    from another with a top-level ``base_config: NAME`` (its keys then override that one's)."""
    path = resolve_config(name_or_path)
    if path.resolve() in _seen:
        raise ConfigError(f"{path}: base_config chain loops back to itself")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a training config must be a mapping, got {type(data).__name__}")
    parent = data.pop("base_config", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: base_config must name a config, got {parent!r}")
    return merge_overrides(read_config_dict(parent, (*_seen, path.resolve())), data)


def compose_config(base: str | Path | None = None, *layers: Mapping[str, Any] | None,
                   overrides: list[str] | None = None) -> TrainConfig:
    """One validated config: the defaults, then ``base`` (a YAML of ``configs/`` or a path), then each
    mapping of ``layers`` (partial configs, nested or dotted keys), then ``--set`` strings."""
    data = read_config_dict(base) if base else {}
    where = f"{resolve_config(base)}: " if base else ""
    try:
        for layer in layers:
            merge_overrides(data, layer)
        return config_from_dict(apply_overrides(data, list(overrides or [])))
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from exc


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config (a path or a name in ``configs/``), apply ``overrides`` and validate."""
    return compose_config(path, overrides=overrides)
