"""Strict loading: every model key the file is meant to cover is loaded, every file key has a place, every
shape fits, unless the caller names (``fnmatch`` patterns) what may differ. Nothing is loaded with
``strict=False``: the model's own values fill the allowed gaps and ``load_state_dict`` runs strict.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Iterable, Sequence

from torch import nn

from .formats import WeightsFile
from .mapping import Mapped
from .report import LoadReport, WeightsError, name_list


def matches(key: str, patterns: Iterable[str]) -> bool:
    """True when ``key`` matches one of the ``fnmatch`` patterns (``fcos_head.cls_logits.*``) or starts
    with one ending in ``.`` (``maskiou_head.``)."""
    return any(fnmatchcase(key, p) or (p.endswith(".") and key.startswith(p)) for p in patterns)


def _shape(t) -> tuple[int, ...]:
    return tuple(int(s) for s in t.shape)


def apply_mapped(model: nn.Module, weights: WeightsFile, mapped: Mapped, *,
                 allow_mismatch: Sequence[str] = ()) -> LoadReport:
    """Load ``mapped`` into ``model`` strictly within ``mapped.scope``; raise WeightsError listing what does
    not fit (counts and first names) unless ``allow_mismatch`` covers it."""
    own = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    in_scope = [k for k in own if k.startswith(mapped.scope)]
    report = LoadReport(source=str(weights.path), format=weights.format, scope=mapped.scope,
                        ignored=list(mapped.ignored), pixel_mean=weights.pixel_mean, pixel_std=weights.pixel_std)
    missing = [k for k in in_scope if k not in mapped.state]
    mismatched = [k for k, v in mapped.state.items() if _shape(v) != _shape(own[k])]
    bad_missing = [k for k in missing if k not in mapped.optional and not matches(k, allow_mismatch)]
    bad_unexpected = [k for k in mapped.unmapped if not matches(k, allow_mismatch)]
    bad_shape = [k for k in mismatched if not matches(k, allow_mismatch)]
    if bad_missing or bad_unexpected or bad_shape:
        parts = []
        if bad_missing:
            parts.append(f"{name_list(bad_missing)} model key(s) missing from the file")
        if bad_unexpected:
            parts.append(f"{name_list(bad_unexpected)} file key(s) with no place in the model")
        if bad_shape:
            shapes = [f"{k} {_shape(mapped.state[k])} vs {_shape(own[k])}" for k in bad_shape]
            parts.append(f"{name_list(shapes)} tensor(s) of another shape (file vs model)")
        hint = ""
        if weights.model_name:
            hint = f" (a checkpoint of {weights.model_name!r} with {weights.model_kwargs}; check the model kwargs)"
        raise WeightsError(f"{weights.format} weights do not fit this model{hint}: " + "; ".join(parts)
                           + ". Name what may differ with allow_mismatch (model.init_allow_mismatch).",
                           file=weights.path)
    state = dict(model.state_dict())
    for key, value in mapped.state.items():
        if key not in mismatched:
            state[key] = value
            report.loaded.append(key)
    model.load_state_dict(state, strict=True)
    report.missing = missing
    report.unexpected = list(mapped.unmapped)
    report.shape_mismatch = mismatched
    return report
