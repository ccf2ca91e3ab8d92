"""Read the inference settings of a detectron2 / centermask2 config yaml (the one published beside a
checkpoint, e.g. LIVECell's ``livecell_config.yaml``): normalisation, test size, FCOS top-k and thresholds.

``_BASE_`` files are followed (relative to the file). Keys a file does not set take the detectron2 /
centermask2 defaults (spec centermask.md §2.2, §4), since those were in force when the weights were trained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .report import WeightsError

#: detectron2 / centermask2 defaults of the keys read here
_DEFAULTS: dict[str, Any] = {
    "MODEL.PIXEL_MEAN": [103.530, 116.280, 123.675], "MODEL.PIXEL_STD": [1.0, 1.0, 1.0],
    "INPUT.MIN_SIZE_TEST": 800, "INPUT.MAX_SIZE_TEST": 1333, "MODEL.FCOS.PRE_NMS_TOPK_TEST": 1000,
    "MODEL.FCOS.POST_NMS_TOPK_TEST": 100, "MODEL.FCOS.INFERENCE_TH_TEST": 0.05, "MODEL.FCOS.NMS_TH": 0.6,
}
#: detectron2 key -> CenterMaskConfig field
_FIELDS = {"INPUT.MIN_SIZE_TEST": "test_min_size", "INPUT.MAX_SIZE_TEST": "test_max_size",
           "MODEL.FCOS.PRE_NMS_TOPK_TEST": "pre_nms_topk_test", "MODEL.FCOS.POST_NMS_TOPK_TEST": "post_nms_topk_test",
           "MODEL.FCOS.INFERENCE_TH_TEST": "inference_threshold", "MODEL.FCOS.NMS_TH": "nms_threshold"}


@dataclass
class D2Config:
    """What a detectron2 yaml says about inference, as CenterMaskConfig ``overrides``."""

    path: Path
    pixel_mean: list[float] | None = None
    pixel_std: list[float] | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


def _merge(into: dict, new: dict) -> dict:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
    return into


def _read_chain(path: Path, depth: int = 0) -> dict:
    if depth > 8:
        raise WeightsError("_BASE_ chain deeper than 8 files", file=path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise WeightsError(f"cannot read the detectron2 config ({exc})", file=path) from exc
    if not isinstance(data, dict):
        raise WeightsError("not a detectron2 config (expected a mapping)", file=path)
    base = data.pop("_BASE_", None)
    merged = _read_chain(path.parent / base, depth + 1) if base else {}
    return _merge(merged, data)


def _get(tree: dict, dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _DEFAULTS[dotted]
        node = node[part]
    return node


def read_d2_config(path: str | Path) -> D2Config:
    """Normalisation and inference overrides from a detectron2 yaml (and its ``_BASE_`` files)."""
    path = Path(path)
    tree = _read_chain(path)
    out = D2Config(path=path, pixel_mean=[float(v) for v in _get(tree, "MODEL.PIXEL_MEAN")],
                   pixel_std=[float(v) for v in _get(tree, "MODEL.PIXEL_STD")])
    for key, name in _FIELDS.items():
        value = _get(tree, key)
        if isinstance(value, (list, tuple)):  # MIN_SIZE_TEST may be a list in some configs
            value = value[0]
        out.overrides[name] = type(_DEFAULTS[key])(value)
    return out
