"""Read any supported weights file and recognise its format from its content (keys), never its name.

Formats:

- ``cellseg-nb``: a checkpoint of ``cellseg-nb train`` (``model_name``, ``model_kwargs``, ``model``, ...);
- ``centermask2``: a centermask2 / LIVECell detector (detectron2 names ``backbone.bottom_up.*``,
  ``proposal_generator.*``, ``roi_heads.*``), ``{"model": state_dict, ...}`` or bare;
- ``d2-backbone``: a detectron2 ImageNet VoVNet (``vovnet*_detectron2.pth``): backbone keys only, either
  ``backbone.bottom_up.stem.stem_1/conv.weight`` or the bare ``stem.stem_1/conv.weight``;
- ``timm``: a timm state dict (``stem.0.conv.weight``, ``stages.0...``; or features names ``stem_0...``),
  ``.pth`` or ``.safetensors``; any other plain state dict is read as this format too (its keys are then
  checked strictly against the model, so a foreign file fails with the names that do not fit).

Pickles are read with ``torch.load(weights_only=True)`` (no code runs), safetensors with the
``safetensors`` package. Every floating-point tensor must be finite.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .report import WeightsError, name_list

FORMATS: tuple[str, ...] = ("cellseg-nb", "centermask2", "d2-backbone", "timm")
NORMALISATION_KEYS: tuple[str, ...] = ("pixel_mean", "pixel_std")

_D2_DETECTOR = ("proposal_generator.", "roi_heads.", "backbone.fpn_", "backbone.top_block.")
_D2_BACKBONE = "backbone.bottom_up."
_D2_BARE = re.compile(r"^(stem\.stem_\d/|stage\d\.OSA\d_\d+\.)")


@dataclass
class WeightsFile:
    """A weights file read into memory: ``state`` holds its tensors under the file's own key names
    (``module.`` prefixes removed); ``pixel_mean`` / ``pixel_std`` come from a detectron2 checkpoint."""

    path: Path
    format: str
    state: dict[str, Tensor]
    pixel_mean: list[float] | None = None
    pixel_std: list[float] | None = None
    model_name: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def num_params(self) -> int:
        return sum(int(v.numel()) for v in self.state.values())


def _sniff(path: Path) -> str:
    """``"safetensors"`` or ``"torch"`` from the first bytes; WeightsError for anything else."""
    with path.open("rb") as handle:
        head = handle.read(16)
    if len(head) < 8:
        raise WeightsError("file is empty or truncated (fewer than 8 bytes)", file=path)
    if head[:2] == b"PK" or head[:1] == b"\x80":
        return "torch"
    (header_len,) = struct.unpack("<Q", head[:8])
    if 2 <= header_len < 100_000_000 and head[8:9] == b"{":
        return "safetensors"
    raise WeightsError("not a weights file: neither a torch checkpoint (zip or pickle) nor safetensors", file=path)


def _reason(exc: Exception) -> str:
    """The useful part of a torch.load error (its advice to retry with weights_only=False is left out)."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        detail = text.split("WeightsUnpickler error:", 1)[1].strip().split("\n\n")[0].strip()
        return (f"it holds objects other than tensors and plain containers ({detail}); do not load it with "
                "weights_only=False unless you trust its source")
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def load_payload(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """Everything a torch or safetensors file holds (a training checkpoint's optimiser and RNG state too),
    read without running code: ``torch.load(weights_only=True)`` / ``safetensors``. WeightsError if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError("weights file not found", file=path)
    return _load_object(path, map_location)


def _load_object(path: Path, map_location: str | torch.device = "cpu") -> Any:
    kind = _sniff(path)
    if kind == "safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device=str(map_location))
        except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as exc:
            raise WeightsError(f"cannot read safetensors ({type(exc).__name__}: {exc})", file=path) from exc
    try:
        with path.open("rb") as handle:  # a handle, so no torch version picks a reader by the file name
            return torch.load(handle, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zips, pickles with code and corrupt files raise many types
        raise WeightsError(f"cannot load checkpoint with torch.load(weights_only=True): {_reason(exc)}",
                           file=path) from exc


def _state_of(obj: Any, path: Path) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise WeightsError(f"holds a {type(obj).__name__}, not a state dict", file=path)
    for wrapper in ("model", "state_dict"):
        if isinstance(obj.get(wrapper), dict):
            return obj[wrapper]
    return obj


def classify(keys: list[str]) -> str | None:
    """The format of a state dict from its keys (see the module docstring), None if unknown."""
    if any(k.startswith(_D2_DETECTOR) for k in keys):
        return "centermask2"
    weights = [k for k in keys if k not in NORMALISATION_KEYS]
    if weights and any(k.startswith(_D2_BACKBONE) for k in weights):
        return "d2-backbone"
    if any(_D2_BARE.match(k) for k in weights):
        return "d2-backbone"
    if weights:  # timm VoVNets (stem.0..., stages.0...) and any other plain state dict of a timm model
        return "timm"
    return None


def check_finite(state: dict[str, Tensor], path: str | Path) -> None:
    """WeightsError naming the first floating-point tensor with a NaN or an infinity."""
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise WeightsError(f"{bad} non-finite value(s) (NaN or inf) in this tensor", file=path, record=key)


def read_weights(path: str | Path) -> WeightsFile:
    """Read ``path`` (any format above), check every tensor is finite, and say what it is."""
    path = Path(path)
    obj = load_payload(path)
    if isinstance(obj, dict) and {"model_name", "model_kwargs", "model"} <= set(obj):
        fmt, state = "cellseg-nb", obj["model"]
        name, kwargs = str(obj["model_name"]), dict(obj["model_kwargs"] or {})
    else:
        state, name, kwargs = _state_of(obj, path), None, {}
        fmt = None
    if not isinstance(state, dict) or not state:
        raise WeightsError("holds no tensors", file=path)
    bad = [str(k) for k, v in state.items() if not isinstance(v, Tensor)]
    if bad:
        raise WeightsError(f"non-tensor entries in the state dict: {name_list(bad)}", file=path)
    state = {str(k).removeprefix("module."): v for k, v in state.items()}
    if fmt is None:
        fmt = classify(list(state))
        if fmt is None:
            raise WeightsError(f"unknown weights format; first keys: {name_list(list(state))} (expected a "
                               "cellseg-nb checkpoint, a centermask2/LIVECell .pth, a detectron2 ImageNet VoVNet "
                               "or a timm state dict)", file=path)
    check_finite(state, path)
    out = WeightsFile(path=path, format=fmt, state=state, model_name=name, model_kwargs=kwargs)
    for key in NORMALISATION_KEYS:
        if key in state:
            setattr(out, key, [float(v) for v in state.pop(key).flatten()])
    return out
