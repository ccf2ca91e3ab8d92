"""Training: YAML/dataclass configs, the engine (AMP, checkpoints, exact resume, validation, DDP) and
prediction to COCO results. Entry points: :func:`train`, :func:`load_config`, :func:`predict_dataset`,
:func:`predict_folder`."""

from .api import build_datasets, train
from .checkpoint import build_model_from_checkpoint, latest_checkpoint, load_checkpoint
from .config import TrainConfig, apply_overrides, config_from_dict, load_config
from .engine import NonFiniteLossError, Trainer, TrainResult

__all__ = ["NonFiniteLossError", "TrainConfig", "TrainResult", "Trainer", "apply_overrides", "build_datasets",
           "build_model_from_checkpoint", "config_from_dict", "latest_checkpoint", "load_checkpoint",
           "load_config", "train"]
