"""The key mapping between centermask2 / LIVECell checkpoints (detectron2 names, spec §1.3, §6) and this
package's CenterMask, both ways.

A detectron2 checkpoint is `{"model": state_dict, ...}` (or a bare state dict) with keys such as
`backbone.bottom_up.stage4.OSA4_2.concat.OSA4_2_concat/conv.weight`. Every key is mapped by name (never by
position: dw models register `conv_reduction` in a different order). Reading files, format detection and
strict loading live in :mod:`cellseg_nb.weights`, which uses these tables.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from torch import Tensor, nn

if TYPE_CHECKING:
    from ...weights import LoadReport

_PART_TO_TIMM = {"conv": "conv", "norm": "bn", "dw_conv3x3": "conv_dw", "pw_conv1x1": "conv_pw", "pw_norm": "bn"}
_PART_FROM_TIMM_PLAIN = {"conv": "conv", "bn": "norm"}
_PART_FROM_TIMM_DW = {"conv_dw": "dw_conv3x3", "conv_pw": "pw_conv1x1", "bn": "pw_norm"}
_BB = "backbone.bottom_up."
_OURS_BB = "backbone.body."
_SIMPLE = [("backbone.fpn_lateral", "fpn.lateral"), ("backbone.fpn_output", "fpn.output"),
           ("backbone.top_block.", "fpn."), ("proposal_generator.fcos_head.", "fcos_head."),
           ("roi_heads.mask_head.", "mask_head."), ("roi_heads.maskiou_head.", "maskiou_head.")]

_STEM = re.compile(r"stem\.stem_(\d)/(\w+)\.(\w+)$")
_LAYER = re.compile(r"stage(\d)\.OSA\1_(\d+)\.layers\.(\d+)\.OSA\1_\2_\3/(\w+)\.(\w+)$")
_REDUCTION = re.compile(r"stage(\d)\.OSA\1_(\d+)\.conv_reduction\.OSA\1_\2_reduction_0/(\w+)\.(\w+)$")
_CONCAT = re.compile(r"stage(\d)\.OSA\1_(\d+)\.concat\.OSA\1_\2_concat/(\w+)\.(\w+)$")
_ESE = re.compile(r"stage(\d)\.OSA\1_(\d+)\.ese\.fc\.(\w+)$")

_T_STEM = re.compile(r"stem_(\d)\.(\w+)\.(\w+)$")
_T_BLOCK = re.compile(r"stages_(\d)\.blocks\.(\d+)\.(.+)$")


def _backbone_to_ours(key: str) -> str | None:
    """centermask2 VoVNet key (without `backbone.bottom_up.`) -> our timm features key, None if unknown."""
    if m := _STEM.match(key):
        part = _PART_TO_TIMM.get(m[2])
        return None if part is None else f"stem_{int(m[1]) - 1}.{part}.{m[3]}"
    if m := _LAYER.match(key):
        part = _PART_TO_TIMM.get(m[4])
        return None if part is None else \
            f"stages_{int(m[1]) - 2}.blocks.{int(m[2]) - 1}.conv_mid.{m[3]}.{part}.{m[5]}"
    for pattern, name in ((_REDUCTION, "conv_reduction"), (_CONCAT, "conv_concat")):
        if m := pattern.match(key):
            part = _PART_TO_TIMM.get(m[3])
            return None if part is None else f"stages_{int(m[1]) - 2}.blocks.{int(m[2]) - 1}.{name}.{part}.{m[4]}"
    if m := _ESE.match(key):
        return f"stages_{int(m[1]) - 2}.blocks.{int(m[2]) - 1}.attn.fc.{m[3]}"
    return None


def centermask2_key_to_ours(key: str) -> str | None:
    """Map one centermask2/LIVECell checkpoint key to this package's key (None: not a model weight)."""
    if key.startswith(_BB):
        mapped = _backbone_to_ours(key[len(_BB):])
        return None if mapped is None else _OURS_BB + mapped
    for theirs, ours in _SIMPLE:
        if key.startswith(theirs):
            return ours + key[len(theirs):]
    return None


def _part_from_timm(part: str, depthwise: bool) -> str:
    table = _PART_FROM_TIMM_DW if depthwise else _PART_FROM_TIMM_PLAIN
    if part not in table:
        raise KeyError(part)
    return table[part]


def ours_key_to_centermask2(key: str, depthwise_modules: set[str]) -> str | None:
    """Inverse of centermask2_key_to_ours; `depthwise_modules` are our module paths that are dw units."""
    if key.endswith("num_batches_tracked"):
        return None
    if key.startswith(_OURS_BB):
        rest = key[len(_OURS_BB):]
        module = rest.rsplit(".", 2)[0]
        dw = module in depthwise_modules
        if m := _T_STEM.match(rest):
            return f"{_BB}stem.stem_{int(m[1]) + 1}/{_part_from_timm(m[2], dw)}.{m[3]}"
        if m := _T_BLOCK.match(rest):
            s, b, tail = int(m[1]) + 2, int(m[2]) + 1, m[3]
            osa = f"stage{s}.OSA{s}_{b}"
            if t := re.match(r"conv_mid\.(\d+)\.(\w+)\.(\w+)$", tail):
                return f"{_BB}{osa}.layers.{t[1]}.OSA{s}_{b}_{t[1]}/{_part_from_timm(t[2], dw)}.{t[3]}"
            if t := re.match(r"conv_reduction\.(\w+)\.(\w+)$", tail):
                return f"{_BB}{osa}.conv_reduction.OSA{s}_{b}_reduction_0/{_part_from_timm(t[1], False)}.{t[2]}"
            if t := re.match(r"conv_concat\.(\w+)\.(\w+)$", tail):
                return f"{_BB}{osa}.concat.OSA{s}_{b}_concat/{_part_from_timm(t[1], False)}.{t[2]}"
            if t := re.match(r"attn\.fc\.(\w+)$", tail):
                return f"{_BB}{osa}.ese.fc.{t[1]}"
        return None
    for theirs, ours in _SIMPLE:
        if key.startswith(ours):
            return theirs + key[len(ours):]
    return None


def depthwise_module_paths(model: nn.Module) -> set[str]:
    """Paths (relative to `backbone.body`) of the modules that hold a `conv_dw` (separable conv units)."""
    body = model.backbone.body  # type: ignore[union-attr]
    return {name for name, module in body.named_modules() if hasattr(module, "conv_dw")}


def to_centermask2_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """Our model's weights under centermask2 key names (the inverse mapping; for export and tests)."""
    dw = depthwise_module_paths(model)
    out = {}
    for key, value in model.state_dict().items():
        theirs = ours_key_to_centermask2(key, dw)
        if theirs is not None:
            out[theirs] = value
    return out


def load_centermask2_checkpoint(model: nn.Module, path: str | Path, *,
                                allow_mismatch: Sequence[str] = ()) -> "LoadReport":
    """Load a centermask2 / LIVECell model-zoo .pth into `model` strictly and return the
    :class:`cellseg_nb.weights.LoadReport` (reading and strictness live in :mod:`cellseg_nb.weights`)."""
    from ...weights import init_weights

    return init_weights(model, path, allow_mismatch=allow_mismatch)
