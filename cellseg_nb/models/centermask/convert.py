"""Import centermask2 / LIVECell model-zoo checkpoints (.pth) by an explicit key mapping (spec §1.3, §6).

A detectron2 checkpoint is `{"model": state_dict, ...}` (or a bare state dict) with keys such as
`backbone.bottom_up.stage4.OSA4_2.concat.OSA4_2_concat/conv.weight`. Every key is mapped by name (never by
position: dw models register `conv_reduction` in a different order) to this package's module names, shapes
are checked, and a report lists loaded, missing, unexpected and shape-mismatched keys. `pixel_mean` and
`pixel_std` buffers (d2 2020-04..2021-02) are not weights; they are returned in the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from cellseg_nb.errors import DataError

_PART_TO_TIMM = {"conv": "conv", "norm": "bn", "dw_conv3x3": "conv_dw", "pw_conv1x1": "conv_pw", "pw_norm": "bn"}
_PART_FROM_TIMM_PLAIN = {"conv": "conv", "bn": "norm"}
_PART_FROM_TIMM_DW = {"conv_dw": "dw_conv3x3", "conv_pw": "pw_conv1x1", "bn": "pw_norm"}
_BB = "backbone.bottom_up."
_OURS_BB = "backbone.body."
_SIMPLE = [("backbone.fpn_lateral", "fpn.lateral"), ("backbone.fpn_output", "fpn.output"),
           ("backbone.top_block.", "fpn."), ("proposal_generator.fcos_head.", "fcos_head."),
           ("roi_heads.mask_head.", "mask_head."), ("roi_heads.maskiou_head.", "maskiou_head.")]
_NOT_WEIGHTS = ("pixel_mean", "pixel_std")

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


@dataclass
class ConversionReport:
    """What a checkpoint import did. `missing`: our keys left at their initial values."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatch: list[str] = field(default_factory=list)
    pixel_mean: list[float] | None = None
    pixel_std: list[float] | None = None

    def summary(self) -> str:
        return (f"loaded {len(self.loaded)}, missing {len(self.missing)}, unexpected {len(self.unexpected)}, "
                f"shape mismatch {len(self.shape_mismatch)}")


def convert_state_dict(state: dict[str, Tensor], model: nn.Module, *, on_shape_mismatch: str = "raise",
                       source: str | Path | None = None) -> tuple[dict[str, Tensor], ConversionReport]:
    """Map a centermask2 state dict onto `model`'s keys with shape checks.

    on_shape_mismatch "raise" (DataError naming the key) or "skip" (e.g. an 80-class COCO head into a
    1-class model: the key is listed in `shape_mismatch` and left at its initial value).
    """
    if on_shape_mismatch not in ("raise", "skip"):
        raise ValueError(f"on_shape_mismatch must be 'raise' or 'skip', got {on_shape_mismatch!r}")
    own = model.state_dict()
    report = ConversionReport()
    mapped: dict[str, Tensor] = {}
    for key, value in state.items():
        if key in _NOT_WEIGHTS:
            setattr(report, key, [float(v) for v in value.flatten()])
            continue
        ours = centermask2_key_to_ours(key)
        if ours is None or ours not in own:
            report.unexpected.append(key)
            continue
        if tuple(own[ours].shape) != tuple(value.shape):
            problem = f"shape {tuple(value.shape)} does not fit {ours} {tuple(own[ours].shape)}"
            if on_shape_mismatch == "raise":
                raise DataError(problem, file=source, record=key)
            report.shape_mismatch.append(f"{key}: {problem}")
            continue
        mapped[ours] = value
        report.loaded.append(key)
    report.missing = sorted(k for k in own if k not in mapped and not k.endswith("num_batches_tracked"))
    return mapped, report


def read_d2_checkpoint(path: str | Path) -> dict[str, Tensor]:
    """Read a detectron2 .pth: check the file, torch.load(weights_only=True), unwrap "model"."""
    path = Path(path)
    if not path.is_file():
        raise DataError("checkpoint file not found", file=path)
    with path.open("rb") as handle:
        head = handle.read(4)
    if len(head) < 4:
        raise DataError("checkpoint file is empty or truncated", file=path)
    if head[:2] != b"PK" and head[:1] != b"\x80":
        raise DataError("not a torch checkpoint (neither a zip archive nor a pickle)", file=path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataError(f"cannot load with weights_only=True ({type(exc).__name__}: {exc})", file=path) from exc
    state = obj.get("model", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise DataError("checkpoint holds no state dict (expected a dict, optionally under 'model')", file=path)
    bad = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if bad:
        raise DataError(f"non-tensor entries in the state dict, e.g. {bad[:3]}", file=path)
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_centermask2_checkpoint(model: nn.Module, path: str | Path, *,
                                on_shape_mismatch: str = "raise") -> ConversionReport:
    """Load a centermask2 / LIVECell model-zoo .pth into `model` (in place) and return the report."""
    state = read_d2_checkpoint(path)
    mapped, report = convert_state_dict(state, model, on_shape_mismatch=on_shape_mismatch, source=path)
    model.load_state_dict(mapped, strict=False)
    return report
