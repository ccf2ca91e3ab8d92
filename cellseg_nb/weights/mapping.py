"""Map the keys of a weights file onto a model's own names, per format (the name tables live beside the
models: ``models/centermask/convert.py`` for detectron2 names, ``models/centermask/backbone.py`` for timm).

The result says which model keys the file is meant to cover (``scope``: everything for a detector or a
cellseg-nb checkpoint, the VoVNet trunk for a backbone file) so that loading can be strict inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn

from .formats import WeightsFile
from .report import WeightsError

#: Classifier heads of ImageNet files: not part of any segmentation model, ignored (and reported).
CLASSIFIER_PREFIXES: tuple[str, ...] = ("head.", "fc.", "classifier.", "last_linear.", "linear.")
_D2_BB = "backbone.bottom_up."
_OUR_BODY = "backbone.body."


@dataclass
class Mapped:
    """A file's tensors under the model's names, and what had no place in the model."""

    state: dict[str, Tensor] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    scope: str = ""
    #: model keys that may be absent by design (eSE blocks timm lacks; they start as the identity)
    optional: set[str] = field(default_factory=set)


def vovnet_prefix(model: nn.Module) -> str | None:
    """Where the timm VoVNet trunk sits in ``model``: ``backbone.body.`` (CenterMask), ``body.``
    (VoVNetBackbone), ``""`` (the trunk itself), None when there is none."""
    backbone = getattr(model, "backbone", None)
    if backbone is not None and hasattr(backbone, "body"):
        return _OUR_BODY
    if hasattr(model, "body") and hasattr(model, "out_channels"):
        return "body."
    if hasattr(model, "stem_0") and hasattr(model, "stages_0"):
        return ""
    return None


def _added_ese_keys(model: nn.Module, prefix: str) -> set[str]:
    from ..models.centermask.backbone import IdentityInitESE

    names = {name for name, module in model.named_modules() if isinstance(module, IdentityInitESE)}
    return {key for key in model.state_dict() if key.startswith(prefix)
            and any(key.startswith(name + ".") for name in names)}


def _map_d2_backbone_key(key: str, prefix: str) -> str | None:
    from ..models.centermask.convert import centermask2_key_to_ours

    ours = centermask2_key_to_ours(key)
    if ours is None or not ours.startswith(_OUR_BODY):
        return None
    return prefix + ours[len(_OUR_BODY):]


def _need_vovnet(model: nn.Module, weights: WeightsFile) -> str:
    prefix = vovnet_prefix(model)
    if prefix is None:
        raise WeightsError(f"a {weights.format} file only fits CenterMask (or its VoVNet backbone), not a "
                           f"{type(model).__name__}", file=weights.path)
    return prefix


def _place(out: Mapped, key: str, ours: str | None, value: Tensor) -> None:
    if ours is None:
        out.unmapped.append(key)
    else:
        out.state[ours] = value


def map_weights(weights: WeightsFile, model: nn.Module) -> Mapped:
    """The file's tensors under ``model``'s key names (see the module docstring)."""
    own = model.state_dict()
    out = Mapped()
    items = [(k, v) for k, v in weights.state.items() if not k.endswith("num_batches_tracked")]  # counters
    if weights.format == "cellseg-nb":
        for key, value in items:
            _place(out, key, key if key in own else None, value)
        return out
    if weights.format == "centermask2" and vovnet_prefix(model) == _OUR_BODY and hasattr(model, "fcos_head"):
        from ..models.centermask.convert import centermask2_key_to_ours

        for key, value in items:
            ours = centermask2_key_to_ours(key)
            _place(out, key, ours if ours in own else None, value)
        return out
    prefix = _need_vovnet(model, weights) if weights.format != "timm" else vovnet_prefix(model)
    if weights.format in ("centermask2", "d2-backbone"):
        out.scope = prefix
        for key, value in items:
            full = key if key.startswith(("backbone.", "proposal_generator.", "roi_heads.")) else _D2_BB + key
            if not full.startswith(_D2_BB):  # a detector's FPN and heads, when only the trunk is wanted
                out.ignored.append(key)
                continue
            ours = _map_d2_backbone_key(full, prefix)
            if ours in own:
                out.state[ours] = value
            elif not full[len(_D2_BB):].startswith(("stem.", "stage")):
                out.ignored.append(key)  # ImageNet classifier of a backbone file
            else:
                out.unmapped.append(key)
        return out
    # timm: a VoVNet trunk (CenterMask, VoVNetBackbone) or the encoder of a TimmUNet
    from ..models.centermask.backbone import timm_key_to_features_key

    if prefix is None:
        prefix = "encoder." if hasattr(model, "encoder") else ""
    out.scope = prefix
    out.optional = _added_ese_keys(model, prefix)
    for key, value in items:
        for candidate in (prefix + key, prefix + timm_key_to_features_key(key)):
            if candidate in own:
                out.state[candidate] = value
                break
        else:
            (out.ignored if key.startswith(CLASSIFIER_PREFIXES) else out.unmapped).append(key)
    return out
