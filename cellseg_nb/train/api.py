"""``train(config) -> TrainResult``: the Python entry point the notebooks and ``cellseg-nb train`` use.

Datasets come from the config's ``data`` section (:mod:`cellseg_nb.data.datasets`) unless passed in:
semantic or instance datasets as the model's registry entry says. ``data.synthetic`` names a folder
written by ``cellseg-nb synth`` whose ``annotations/LIVECell/*_synthetic.json`` images are added. The
model starts from ``model.init_weights`` when the config names them (:mod:`cellseg_nb.weights`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data.layout import ANNOTATION_DIR
from ..errors import ConfigError
from ..models.registry import build_model, target_kind
from .config import TrainConfig, apply_overrides, config_from_dict, load_config
from .engine import Trainer, TrainResult
from .checkpoint import latest_checkpoint
from .runtime import collate_batch


def synthetic_annotations(folder: str | Path) -> Path:
    """The ``*_synthetic.json`` of a ``cellseg-nb synth`` output folder."""
    found = sorted((Path(folder) / ANNOTATION_DIR).glob("*_synthetic.json"))
    if len(found) != 1:
        raise ConfigError(f"data.synthetic: expected one annotations/LIVECell/*_synthetic.json in {folder}, "
                          f"found {len(found)}")
    return found[0]


def build_datasets(cfg: TrainConfig) -> dict[str, Any]:
    """Train dataset, validation dataset (full images) + ground truth, and the collate function."""
    from torch.utils.data import ConcatDataset

    from ..data.coco import load_coco

    d = cfg.data
    if not d.train_annotations or not d.images:
        raise ConfigError("data.train_annotations and data.images are required when no dataset is passed")
    from ..data import datasets as ds
    instance = target_kind(cfg.model.name) == "instance"
    cls = ds.InstanceDataset if instance else ds.SemanticDataset
    collate = getattr(ds, "collate_instances", collate_batch) if instance else collate_batch

    def make(annotations, images, crop, augment):
        return cls(annotations, images, cell_types=d.cell_types, crop_size=crop, augment=augment,
                   cache_dir=d.cache_dir, seed=cfg.seed)

    train = make(d.train_annotations, d.images, d.crop_size, d.augment)
    if d.synthetic:
        train = ConcatDataset([train, make(synthetic_annotations(d.synthetic), Path(d.synthetic) / "images",
                                           d.crop_size, d.augment)])
    out = {"train_dataset": train, "val_dataset": None, "val_gt": None, "collate_fn": collate}
    if d.val_annotations:
        out["val_dataset"] = ds.SemanticDataset(d.val_annotations, d.images, cell_types=d.cell_types,
                                                crop_size=None, augment=False, cache_dir=d.cache_dir,
                                                seed=cfg.seed)
        out["val_gt"] = _filter_gt(load_coco(d.val_annotations), d.cell_types)
    return out


def _filter_gt(gt, cell_types):
    """Ground truth restricted to ``cell_types`` (so validation matches the validation dataset)."""
    if not cell_types:
        return gt
    from ..celltypes import canonical_cell_type
    from ..data.coco import CocoDataset

    wanted = {canonical_cell_type(t) for t in cell_types}
    images = [img for img in gt.images if gt.meta(img["id"]).cell_type in wanted]
    ids = {img["id"] for img in images}
    return CocoDataset(images=images, annotations=[a for a in gt.annotations if a["image_id"] in ids],
                       categories=gt.categories, info=gt.info, path=gt.path)


def train(config: TrainConfig | dict | str | Path, *, overrides: list[str] | None = None,
          **datasets: Any) -> TrainResult:
    """Train from a :class:`TrainConfig`, a dict or a YAML path; ``datasets`` may give ``train_dataset``,
    ``val_dataset``, ``val_gt``, ``collate_fn`` and ``model`` directly (otherwise built from the config)."""
    if isinstance(config, (str, Path)):
        config = load_config(config, overrides)
    elif isinstance(config, dict):
        config = config_from_dict(apply_overrides(dict(config), list(overrides or [])))
    elif overrides:
        config = config_from_dict(apply_overrides(config.to_dict(), list(overrides)))
    if "model" not in datasets:
        datasets["model"], _ = build_training_model(config)
    if not resumes(config):  # frozen BatchNorm over a random backbone is refused (cellseg_nb.weights.frozen)
        from ..weights import check_frozen_bn

        check_frozen_bn(datasets["model"])
    if "train_dataset" not in datasets:
        datasets = {**build_datasets(config), **datasets}
    return Trainer(config, **datasets).fit()


def resumes(cfg: TrainConfig) -> bool:
    """True when the run continues from a checkpoint of its own (initial weights are then not reloaded)."""
    return cfg.resume and latest_checkpoint(Path(cfg.output_dir) / "checkpoints") is not None


def build_training_model(cfg: TrainConfig) -> tuple[Any, Any]:
    """The model to train and the report of its initial weights (None when it starts at random or
    resumes): built from ``model.name`` / ``model.kwargs`` (seeded), then loaded from
    ``model.init_weights`` unless the run resumes from its own checkpoint."""
    import torch

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model.name, **cfg.model.kwargs)
    report = None
    if cfg.model.init_weights and not resumes(cfg):
        from ..weights import init_weights

        report = init_weights(model, cfg.model.init_weights, allow_mismatch=list(cfg.model.init_allow_mismatch))
    return model, report
