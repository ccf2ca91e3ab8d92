"""What a weights file holds (``cellseg-nb weights info``) and the zoo as a table (docs/weights.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from .formats import read_weights
from .infer import infer_backbone, infer_centermask
from .report import WeightsError
from .zoo import ZooEntry, default_zoo


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


def zoo_markdown_table(entries: Iterable[ZooEntry] | None = None) -> str:
    """The zoo as a Markdown table (docs/weights.md holds it, checked by a test); the config column lists the
    settings that differ from the model preset's (LIVECell's inference settings are the presets' defaults)."""
    rows = ["| name | model (config) | holds | trained on | size | sha256 | licence |",
            "|---|---|---|---|---|---|---|"]
    from ..models.centermask import make_config

    for e in entries if entries is not None else default_zoo():
        preset = make_config(e.model)
        config = ", ".join(f"{k}={v}" for k, v in e.config.items() if getattr(preset, k, None) != v)
        size = f"{e.size:,} B" if e.size else "unknown"
        sha = e.sha256 or (f"starts {e.sha256_prefix}" if e.sha256_prefix else "unknown")
        rows.append(f"| [`{e.name}`]({e.url}) | `{e.model}`{' (' + config + ')' if config else ''} | {e.scope} | "
                    f"{e.trained_on} | {size} | {sha} | {e.licence} |")
    return "\n".join(rows) + "\n"
