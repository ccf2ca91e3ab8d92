"""CenterMask (VoVNetV2-FPN, FCOS, SAG-Mask, MaskIoU) in the torchvision style, LIVECell settings by default.

`build_centermask(preset, **overrides)` returns the nn.Module; `CENTERMASK_PRESETS` names the presets.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from .config import CENTERMASK_PRESETS, SMALL_CPU_OVERRIDES, CenterMaskConfig, make_config
from ..registry import register_family
from .model import CenterMask


def build_centermask(preset: str, **overrides: Any) -> CenterMask:
    """CenterMask of a named preset (see CENTERMASK_PRESETS) with config fields replaced by `overrides`."""
    return CenterMask(make_config(preset, **overrides))


register_family("centermask", tuple(CENTERMASK_PRESETS), "instance", build_centermask,
                frozenset(f.name for f in fields(CenterMaskConfig)))


__all__ = ["CENTERMASK_PRESETS", "SMALL_CPU_OVERRIDES", "CenterMask", "CenterMaskConfig", "build_centermask",
           "make_config"]
