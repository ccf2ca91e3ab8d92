"""The two ways weights enter a model: :func:`load_model` (a ready model to predict with) and
:func:`init_weights` (weights into a model about to be trained), both strict (see :mod:`.strict`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from .d2config import read_d2_config
from .formats import WeightsFile, read_weights
from .infer import infer_centermask
from .mapping import map_weights
from .report import LoadReport, WeightsError
from .resolve import resolve_weights
from .strict import apply_mapped
from .zoo import zoo_entry

log = logging.getLogger(__name__)

#: The CenterMask modules whose outputs are per class: re-initialised when the number of classes changes.
CLASS_SPECIFIC: tuple[str, ...] = ("fcos_head.cls_logits", "mask_head.predictor", "maskiou_head.maskiou")
#: Model kwargs that name a weights file read at construction (CenterMask, TimmUNet).
_FILE_KWARGS: tuple[str, ...] = ("backbone_checkpoint", "encoder_weights")


def _is_centermask(model: nn.Module) -> bool:
    from ..models.centermask import CenterMask

    return isinstance(model, CenterMask)


def verify_normalisation(model: nn.Module, mean: Sequence[float] | None, std: Sequence[float] | None,
                        file: str | Path) -> None:
    """WeightsError when the normalisation stored with the weights (``pixel_mean`` / ``pixel_std``) is not the
    model's (``config.pixel_mean`` / ``pixel_std``); the message says what to set."""
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "pixel_mean") or (mean is None and std is None):
        return
    theirs_mean = sum(mean) / len(mean) if mean else config.pixel_mean
    theirs_std = sum(std) / len(std) if std else config.pixel_std
    if abs(theirs_mean - config.pixel_mean) <= 1e-3 and abs(theirs_std - config.pixel_std) <= 1e-3:
        return
    per_channel = "" if not mean or max(mean) - min(mean) < 1e-6 else \
        " (per-channel means; a grey image is one channel, so their average is the closest setting)"
    raise WeightsError(f"the weights were trained with pixel_mean {list(mean or [])} / pixel_std {list(std or [])}, "
                       f"the model normalises with pixel_mean {config.pixel_mean} / pixel_std {config.pixel_std}"
                       f"{per_channel}; set pixel_mean={round(theirs_mean, 4)} pixel_std={round(theirs_std, 4)} "
                       "(load_model(..., pixel_mean=..., pixel_std=...), model kwargs in a config), or pass "
                       "check_normalisation=False to keep the model's", file=file)


def reinit_class_specific(model: nn.Module) -> list[str]:
    """Give the class-specific CenterMask layers a fresh initialisation from the model's own head classes
    (same rule as a newly built model); return their names."""
    from ..models.centermask.fcos_head import FCOSHead
    from ..models.centermask.mask_head import SAGMaskHead
    from ..models.centermask.maskiou_head import MaskIoUHead

    c = model.config
    fresh = {"fcos_head": FCOSHead(c.fpn_channels, c.num_classes, c.fcos_num_convs, prior_prob=c.prior_prob),
             "mask_head": SAGMaskHead(c.fpn_channels, c.mask_num_convs, c.mask_conv_dim, c.num_classes)}
    if model.maskiou_head is not None:
        fresh["maskiou_head"] = MaskIoUHead(c.fpn_channels, c.maskiou_num_convs, c.maskiou_conv_dim, c.num_classes,
                                            c.pooler_resolution)
    done = []
    for name in CLASS_SPECIFIC:
        head, layer = name.split(".")
        if head in fresh:
            target = model.get_submodule(name)
            target.load_state_dict(getattr(fresh[head], layer).to(next(target.parameters()).device).state_dict())
            done.append(name)
    return done


def _record(model: nn.Module, report: LoadReport) -> None:
    """Remember on the model what it was loaded from (read by :func:`.frozen.backbone_has_weights`)."""
    reports = list(getattr(model, "weights_reports", []))
    reports.append(report)
    model.weights_reports = reports


def init_weights(model: nn.Module, source: str | Path, *, allow_mismatch: Sequence[str] = (),
                 check_normalisation: bool = False, cache_dir: str | Path | None = None,
                 download: bool = True) -> LoadReport:
    """Load any supported weights (zoo name or file) into ``model`` in place, strictly, for training.

    A whole detector (centermask2 / LIVECell / a cellseg-nb checkpoint) loads into every key; when its number
    of classes differs (an 80-class COCO model into a 1-class one), the class-specific layers
    (:data:`CLASS_SPECIFIC`) are re-initialised and everything else is loaded strictly. A backbone file
    (detectron2 ImageNet VoVNet, timm) loads the trunk strictly; the FPN and heads keep their initialisation.
    ``allow_mismatch`` names (``fnmatch`` patterns of model or file keys) what else may be missing, left out or
    of another shape. The file's normalisation is checked only with ``check_normalisation=True`` (fine-tuning may
    change it on purpose, as LIVECell did from COCO); it is always in the report.
    """
    path = resolve_weights(source, cache_dir=cache_dir, download=download)
    weights = read_weights(path)
    mapped = map_weights(weights, model)
    allow = list(allow_mismatch)
    reinit = False
    if _is_centermask(model) and mapped.scope == "" and weights.format != "timm":
        logits = mapped.state.get("fcos_head.cls_logits.weight")
        if logits is not None and logits.shape[0] != model.config.num_classes:
            allow += [f"{name}.*" for name in CLASS_SPECIFIC]
            reinit = True
    if check_normalisation:
        verify_normalisation(model, weights.pixel_mean, weights.pixel_std, path)
    report = apply_mapped(model, weights, mapped, allow_mismatch=allow)
    if reinit:
        report.reinitialised = reinit_class_specific(model)
    _record(model, report)
    log.info("init weights: %s", report.summary())
    return report


def _architecture(weights: WeightsFile, source: str | Path) -> tuple[str, dict[str, Any]]:
    """Registry name and kwargs of the model ``weights`` fit (a zoo entry's settings applied on top)."""
    if weights.format == "cellseg-nb":
        name, kwargs = str(weights.model_name), dict(weights.model_kwargs)
    elif weights.format == "centermask2":
        name, kwargs = infer_centermask(weights.state, weights.path)
    else:
        raise WeightsError(f"a {weights.format} file holds only a backbone (no FPN or heads) and makes no model to "
                           "predict with; start training from it instead (model.init_weights)", file=weights.path)
    entry = zoo_entry(str(source))
    if entry is not None:
        if entry.model != name:
            raise WeightsError(f"the zoo entry {entry.name} is a {entry.model}, the file holds a {name}; "
                               "is it the right file?", file=weights.path)
        kwargs.update(entry.config)
    return name, kwargs


def _build_and_load(weights: WeightsFile, source: str | Path, *, device: str | torch.device = "cpu",
                    d2_config: str | Path | None = None, check_normalisation: bool = True,
                    **config_overrides: Any) -> tuple[nn.Module, LoadReport]:
    from ..models.registry import build_model

    name, kwargs = _architecture(weights, source)
    mean, std = weights.pixel_mean, weights.pixel_std
    if d2_config is not None:
        d2 = read_d2_config(d2_config)
        kwargs.update(d2.overrides)
        mean, std = d2.pixel_mean or mean, d2.pixel_std or std
    for key in _FILE_KWARGS:  # the weights come from this file, not from the files the model was built with
        if key in kwargs:
            kwargs[key] = None
    kwargs.update(config_overrides)
    model = build_model(name, **kwargs)
    if check_normalisation and _is_centermask(model):
        verify_normalisation(model, mean, std, weights.path)
    report = apply_mapped(model, weights, map_weights(weights, model))
    report.model_name, report.model_kwargs = name, kwargs
    _record(model, report)
    return model.to(device).eval(), report


def model_from_checkpoint(ckpt: dict[str, Any], *, device: str | torch.device = "cpu",
                          source: str = "<checkpoint>") -> tuple[nn.Module, LoadReport]:
    """The eval-mode model of a cellseg-nb checkpoint already in memory (``model_name``, ``model_kwargs``,
    ``model``), loaded strictly."""
    from .formats import check_finite

    state = {str(k).removeprefix("module."): v for k, v in ckpt["model"].items()}
    check_finite(state, source)
    weights = WeightsFile(path=Path(source), format="cellseg-nb", state=state, model_name=str(ckpt["model_name"]),
                          model_kwargs=dict(ckpt["model_kwargs"] or {}))
    return _build_and_load(weights, source, device=device)


def load_model(source: str | Path, *, device: str | torch.device = "cpu", d2_config: str | Path | None = None,
               check_normalisation: bool = True, cache_dir: str | Path | None = None, download: bool = True,
               **config_overrides: Any) -> tuple[nn.Module, LoadReport]:
    """A ready eval-mode model from a zoo name, a cellseg-nb checkpoint or a centermask2 / LIVECell file.

    For a centermask2 file the architecture (backbone, classes, FPN channels, head convs) is inferred from its
    keys and shapes; zoo entries add their inference settings (LIVECell: post-NMS top-k 3000, ...);
    ``d2_config`` (the detectron2 yaml the weights came with) adds its input size, FCOS top-k and
    normalisation; ``config_overrides`` (CenterMaskConfig fields such as ``test_min_size``, or the kwargs of
    another model family) come last. The normalisation stored with the weights or in ``d2_config`` must match
    the model's unless ``check_normalisation=False``. Loading is strict.
    """
    path = resolve_weights(source, cache_dir=cache_dir, download=download)
    return _build_and_load(read_weights(path), source, device=device, d2_config=d2_config,
                           check_normalisation=check_normalisation, **config_overrides)
