"""What a weights file holds, for ``cellseg-nb weights info``: format, architecture, counts, normalisation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .formats import read_weights
from .infer import infer_backbone, infer_centermask
from .report import WeightsError


def describe(path: str | Path) -> dict[str, Any]:
    """Facts about ``path``: format, inferred architecture, tensors, parameters, normalisation, finite check
    (reading fails with WeightsError naming the first non-finite tensor, so a described file is finite)."""
    weights = read_weights(path)
    facts: dict[str, Any] = {"file": str(weights.path), "bytes": weights.path.stat().st_size,
                             "format": weights.format, "tensors": len(weights.state),
                             "parameters": weights.num_params}
    try:
        if weights.format == "cellseg-nb":
            facts["architecture"] = {"model": weights.model_name, "kwargs": weights.model_kwargs}
        elif weights.format == "centermask2":
            preset, overrides = infer_centermask(weights.state, weights.path)
            facts["architecture"] = {"model": preset, "kwargs": overrides}
        elif weights.format == "d2-backbone":
            facts["architecture"] = {"backbone": infer_backbone(weights.state, weights.path)}
        else:
            facts["architecture"] = "timm state dict (architecture given by the model it is loaded into)"
    except WeightsError as exc:
        facts["architecture"] = f"not inferred: {exc.problem}"
    facts["pixel_mean"] = weights.pixel_mean
    facts["pixel_std"] = weights.pixel_std
    facts["finite"] = True
    return facts
