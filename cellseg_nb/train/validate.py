"""Validation during training: instance metrics (evaluation module) and pixel F1 on full images."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..data.coco import CocoDataset
from .runtime import autocast


def model_accepts_cell_types(model: torch.nn.Module) -> bool:
    """True for models that route images by cell type (the ensemble)."""
    return bool(getattr(model, "uses_cell_types", False))


@torch.no_grad()
def predict_image(model: torch.nn.Module, image: torch.Tensor, device: torch.device,
                  cell_type: str | None = None, channels_last: bool = False, amp: str = "none") -> dict:
    """Eval-mode output dict for one 1 x H x W image (outputs moved to CPU; ``masks`` may be a dense tensor
    or :class:`~cellseg_nb.models.instances.BoxMasks`); ``amp`` ("none", "bf16", "fp16": resolved, see
    :func:`cellseg_nb.train.runtime.resolve_amp`) runs the forward pass under autocast."""
    x = image[None].to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(amp, torch.device(device)):
        if model_accepts_cell_types(model) and cell_type is not None:
            out = model(x, cell_types=[cell_type])[0]
        else:
            out = model(x)[0]
    return {k: (v.cpu() if isinstance(v, torch.Tensor) or hasattr(v, "cpu") else v) for k, v in out.items()}


def validate(model: torch.nn.Module, dataset, gt: CocoDataset, device: torch.device, *,
             channels_last: bool = False) -> dict[str, Any]:
    """Summary metrics (AP, F1, AFNR, ... from :func:`cellseg_nb.eval.evaluate_instances`) plus pixel_F1.

    ``dataset`` yields full images ``(image 1xHxW, target)`` with ``target["image_id"]`` an id of ``gt``
    (and ``semantic`` for pixel F1, ``cell_type`` for routed models).
    """
    from ..eval import evaluate_instances, masks_to_results

    was_training = model.training
    model.eval()
    results: list[dict] = []
    tp = fp = fn = 0
    try:
        for i in range(len(dataset)):
            image, target = dataset[i]
            out = predict_image(model, image, device, target.get("cell_type"), channels_last)
            results.extend(masks_to_results(target["image_id"], out["masks"], out["scores"]))
            if "semantic" in target and "semantic_probs" in out:
                pred_fg = out["semantic_probs"].argmax(0) != 0
                gt_fg = torch.as_tensor(target["semantic"]) != 0
                tp += int((pred_fg & gt_fg).sum())
                fp += int((pred_fg & ~gt_fg).sum())
                fn += int((~pred_fg & gt_fg).sum())
    finally:
        model.train(was_training)
    summary = dict(evaluate_instances(gt, results).summary)
    if tp + fp + fn:
        summary["pixel_F1"] = 2 * tp / (2 * tp + fp + fn)
    return {k: (float(v) if isinstance(v, (int, float, np.floating)) else v) for k, v in summary.items()}
