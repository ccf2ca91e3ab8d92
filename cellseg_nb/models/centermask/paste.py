"""Paste 28x28 mask probabilities back into the image (spec §3.3, detectron2 ``detector_postprocess``
semantics): the boxes are rescaled to the input size and **clipped** to the image, empty boxes dropped,
and each mask is bilinearly resampled over its *clipped* box at pixel centres and thresholded
(``>= threshold``), although the mask was predicted on the unclipped box, exactly as detectron2's
``paste_masks_in_image`` does. Masks are returned at box resolution (:class:`BoxMasks`): a dense image
with 2,000 cells would need ~730 MB as full-size masks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..instances import BoxMasks


def clip_boxes(boxes: Tensor, height: int, width: int) -> Tensor:
    """Clip xyxy boxes to [0, width] x [0, height]."""
    out = boxes.clone()
    out[:, 0::2] = out[:, 0::2].clamp(0, width)
    out[:, 1::2] = out[:, 1::2].clamp(0, height)
    return out


def paste_masks(mask_probs: Tensor, boxes: Tensor, height: int, width: int, threshold: float = 0.5) -> BoxMasks:
    """(R,M,M) probabilities + (R,4) xyxy boxes (the clipped boxes, as detectron2 pastes) -> R masks of a
    ``height x width`` image, each stored inside its integer window ``floor(x1)..ceil(x2)`` (clipped).

    Pixel (x, y) is sampled at its centre (x + 0.5, y + 0.5) mapped into the box (grid_sample,
    align_corners=False, zero padding); pixels whose centre lies outside the box can never reach 0.5,
    so the window holds every pixel that can be on.
    """
    device = mask_probs.device
    crops: list[Tensor] = []
    windows = torch.zeros((boxes.shape[0], 4), dtype=torch.int64)
    for i in range(boxes.shape[0]):
        bx1, by1, bx2, by2 = (float(v) for v in boxes[i])
        x0, x1 = max(int(math.floor(bx1)), 0), min(int(math.ceil(bx2)), width)
        y0, y1 = max(int(math.floor(by1)), 0), min(int(math.ceil(by2)), height)
        if bx2 <= bx1 or by2 <= by1 or x1 <= x0 or y1 <= y0:
            crops.append(torch.zeros((0, 0), dtype=torch.bool, device=device))
            continue
        xs = (torch.arange(x0, x1, device=device, dtype=torch.float32) + 0.5 - bx1) / (bx2 - bx1) * 2 - 1
        ys = (torch.arange(y0, y1, device=device, dtype=torch.float32) + 0.5 - by1) / (by2 - by1) * 2 - 1
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        grid = torch.stack([gx, gy], dim=-1)[None]
        sampled = F.grid_sample(mask_probs[i][None, None].to(torch.float32), grid, mode="bilinear",
                                padding_mode="zeros", align_corners=False)[0, 0]
        crops.append(sampled >= threshold)
        windows[i] = torch.tensor([x0, y0, x1, y1])
    return BoxMasks(crops, windows, height, width)
