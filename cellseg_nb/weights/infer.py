"""Infer a CenterMask architecture (registry preset + config overrides) from the keys and shapes of a
centermask2 / LIVECell checkpoint (spec centermask.md §1.1, §6), so a file loads without its config."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from torch import Tensor

from .report import WeightsError

_BB = "backbone.bottom_up."
_OSA = re.compile(r"stage(\d)\.OSA\1_(\d+)\.")
#: (depthwise, stage-2 output channels, blocks per stage) -> timm backbone name (spec §1.1)
_BACKBONES: dict[tuple[bool, int, tuple[int, ...]], str] = {
    (True, 112, (1, 1, 1, 1)): "ese_vovnet19b_slim_dw",
    (True, 256, (1, 1, 1, 1)): "ese_vovnet19b_dw",
    (False, 112, (1, 1, 1, 1)): "ese_vovnet19b_slim",
    (False, 256, (1, 1, 2, 2)): "ese_vovnet39b",
    (False, 256, (1, 1, 4, 3)): "ese_vovnet57b",
    (False, 256, (1, 3, 9, 3)): "ese_vovnet99b",
}
_PRESET_OF_BACKBONE = {"ese_vovnet39b": "centermask_v39", "ese_vovnet57b": "centermask_v57",
                       "ese_vovnet99b": "centermask_v99"}


def infer_backbone(state: dict[str, Tensor], file: str | Path | None = None) -> str:
    """The timm VoVNet name of the d2 backbone in ``state`` (keys with or without ``backbone.bottom_up.``)."""
    keys = {k.removeprefix(_BB): v for k, v in state.items()}
    dw = "stem.stem_2/dw_conv3x3.weight" in keys
    concat = keys.get("stage2.OSA2_1.concat.OSA2_1_concat/conv.weight")
    if concat is None:
        raise WeightsError("cannot infer the VoVNet: no stage2.OSA2_1 concat conv", file=file)
    blocks: dict[int, int] = {}
    for key in keys:
        if m := _OSA.match(key):
            blocks[int(m[1])] = max(blocks.get(int(m[1]), 0), int(m[2]))
    counts = tuple(blocks.get(s, 0) for s in (2, 3, 4, 5))
    name = _BACKBONES.get((dw, int(concat.shape[0]), counts))
    if name is None:
        raise WeightsError(f"VoVNet variant not supported (depthwise={dw}, stage-2 channels {int(concat.shape[0])}, "
                           f"blocks per stage {counts}); supported: V-19-slim-DW, V-19-DW, V-19-slim, V-39, V-57, "
                           "V-99 (eSE)", file=file)
    return name


def _count(state: dict[str, Tensor], pattern: str) -> int:
    rx = re.compile(pattern)
    return sum(1 for k, v in state.items() if rx.fullmatch(k) and v.dim() == 4)


def infer_centermask(state: dict[str, Tensor], file: str | Path | None = None) -> tuple[str, dict[str, Any]]:
    """``(preset, overrides)`` for :func:`cellseg_nb.models.registry.build_model` that fit a centermask2
    state dict: backbone, FPN channels, number of classes, tower / mask / MaskIoU convs and widths."""
    backbone = infer_backbone({k: v for k, v in state.items() if k.startswith(_BB)}, file)
    preset = _PRESET_OF_BACKBONE.get(backbone, "centermask_lite_v19_slim_dw")
    fcos = "proposal_generator.fcos_head."
    mask = "roi_heads.mask_head."
    iou = "roi_heads.maskiou_head."
    overrides: dict[str, Any] = {"backbone": backbone}
    # Each part is read only when its keys are there: a part missing or renamed keeps the preset's value, and
    # strict loading then names its keys (a clearer error than a failed inference).
    if "backbone.fpn_output3.weight" in state:
        overrides["fpn_channels"] = int(state["backbone.fpn_output3.weight"].shape[0])
    if fcos + "cls_logits.weight" in state:
        overrides["num_classes"] = int(state[fcos + "cls_logits.weight"].shape[0])
        overrides["fcos_num_convs"] = _count(state, re.escape(fcos) + r"cls_tower\.\d+\.weight")
    if mask + "mask_fcn1.weight" in state:
        overrides["mask_num_convs"] = _count(state, re.escape(mask) + r"mask_fcn\d+\.weight")
        overrides["mask_conv_dim"] = int(state[mask + "mask_fcn1.weight"].shape[0])
    if mask + "predictor.weight" in state and "num_classes" in overrides \
            and int(state[mask + "predictor.weight"].shape[0]) != overrides["num_classes"]:
        raise WeightsError("mask predictor and FCOS class logits disagree on the number of classes", file=file)
    overrides["maskiou_on"] = any(k.startswith(iou) for k in state)
    if iou + "maskiou_fcn1.weight" in state:
        conv_dim = int(state[iou + "maskiou_fcn1.weight"].shape[0])
        overrides["maskiou_num_convs"] = _count(state, re.escape(iou) + r"maskiou_fcn\d+\.weight")
        overrides["maskiou_conv_dim"] = conv_dim
        if iou + "maskiou_fc1.weight" in state:
            pooled = math.isqrt(int(state[iou + "maskiou_fc1.weight"].shape[1]) // conv_dim)
            overrides["pooler_resolution"] = 2 * pooled
    return preset, overrides
