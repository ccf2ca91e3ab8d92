"""Paste 28x28 mask probabilities back into the image (spec §3.3, detectron2 detector_postprocess
semantics): boxes are clipped to the image, each mask is bilinearly resampled over its *unclipped* box at
pixel centres and thresholded (>= threshold)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def clip_boxes(boxes: Tensor, height: int, width: int) -> Tensor:
    """Clip xyxy boxes to [0, width] x [0, height]."""
    out = boxes.clone()
    out[:, 0::2] = out[:, 0::2].clamp(0, width)
    out[:, 1::2] = out[:, 1::2].clamp(0, height)
    return out


def paste_masks(mask_probs: Tensor, boxes: Tensor, height: int, width: int, threshold: float = 0.5) -> Tensor:
    """(R,M,M) probabilities + (R,4) unclipped xyxy boxes -> (R,height,width) bool masks.

    Pixel (x, y) is sampled at its centre (x + 0.5, y + 0.5) mapped into the box; pixels outside the
    box stay False.
    """
    out = torch.zeros((boxes.shape[0], height, width), dtype=torch.bool, device=mask_probs.device)
    for i in range(boxes.shape[0]):
        bx1, by1, bx2, by2 = (float(v) for v in boxes[i])
        if bx2 <= bx1 or by2 <= by1:
            continue
        x0, x1 = max(int(math.floor(bx1)), 0), min(int(math.ceil(bx2)), width)
        y0, y1 = max(int(math.floor(by1)), 0), min(int(math.ceil(by2)), height)
        if x1 <= x0 or y1 <= y0:
            continue
        xs = (torch.arange(x0, x1, device=mask_probs.device, dtype=torch.float32) + 0.5 - bx1) / (bx2 - bx1) * 2 - 1
        ys = (torch.arange(y0, y1, device=mask_probs.device, dtype=torch.float32) + 0.5 - by1) / (by2 - by1) * 2 - 1
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        grid = torch.stack([gx, gy], dim=-1)[None]
        sampled = F.grid_sample(mask_probs[i][None, None].to(torch.float32), grid, mode="bilinear",
                                padding_mode="zeros", align_corners=False)[0, 0]
        out[i, y0:y1, x0:x1] = sampled >= threshold
    return out
