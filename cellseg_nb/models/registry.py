"""Model registry: ``build_model(name, **kwargs)`` for every family (checkpoints store name + kwargs)."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import ConfigError
from .unet import UNET_PRESETS

_CENTERMASK_NAMES = ("centermask_lite_v19_slim_dw", "centermask_v39", "centermask_v57", "centermask_v99")


def model_names() -> list[str]:
    """Every name :func:`build_model` accepts."""
    names = list(UNET_PRESETS) + ["unet_timm", "ensemble"]
    try:
        from .centermask import CENTERMASK_PRESETS

        names += list(CENTERMASK_PRESETS)
    except ImportError:
        names += list(_CENTERMASK_NAMES)
    return names


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a model by registry name; ``kwargs`` are the family's constructor arguments."""
    try:
        if name in UNET_PRESETS:
            from .unet import build_unet

            return build_unet(name, **kwargs)
        if name == "unet_timm":
            from .unet_timm import TimmUNet

            return TimmUNet(**kwargs)
        if name == "ensemble":
            from .ensemble import CellTypeEnsemble

            return CellTypeEnsemble(**kwargs)
        if name.startswith("centermask"):
            from .centermask import build_centermask

            return build_centermask(name, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"model {name!r}: bad kwargs: {exc}") from exc
    raise ConfigError(f"model.name: unknown model {name!r}; choose from {model_names()}")
