"""Training RoIs for the mask branch (spec §3.3): FCOS proposals plus all GT boxes, matched to GT by IoU
(>= 0.5 is foreground), a random subsample of at most batch*positive_fraction foreground RoIs per image,
and their 28x28 mask targets and GT-area ratios: rasterised from the GT polygons when the targets carry
them (detectron2 ``PolygonMasks``), else cut from the full-resolution GT masks (RLE ground truth)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor
from torchvision.ops import box_iou, roi_align

from ...data.geometry import polygon_area


@dataclass
class ForegroundRois:
    """Foreground RoIs of one image: boxes (R,4) in the processed image, matched GT index (R,)."""

    boxes: Tensor
    matched: Tensor


def sample_foreground(proposals: Tensor, gt_boxes: Tensor, *, batch_size: int, positive_fraction: float,
                      iou_threshold: float, generator: torch.Generator) -> ForegroundRois:
    """Append GT boxes to `proposals`, keep those with IoU >= threshold to some GT, subsample randomly."""
    boxes = torch.cat([proposals.detach(), gt_boxes.to(proposals.dtype)], dim=0)
    if gt_boxes.numel() == 0:
        empty = torch.zeros((0,), dtype=torch.int64, device=boxes.device)
        return ForegroundRois(boxes[:0], empty)
    best_iou, matched = box_iou(gt_boxes.to(boxes.dtype), boxes).max(dim=0)
    foreground = (best_iou >= iou_threshold).nonzero(as_tuple=True)[0]
    limit = int(batch_size * positive_fraction)
    if foreground.numel() > limit:
        order = torch.randperm(foreground.numel(), generator=generator)[:limit].to(foreground.device)
        foreground = foreground[order]
    return ForegroundRois(boxes[foreground], matched[foreground])


def mask_targets_and_ratios(gt_masks: Tensor, matched: Tensor, boxes: Tensor, resolution: int = 28,
                            chunk: int = 16) -> tuple[Tensor, Tensor]:
    """28x28 binary targets (RoIAlign aligned=True of the GT mask, >= 0.5) and area ratios for RoIs.

    gt_masks (G,H,W) uint8/bool at the resolution `boxes` (R,4 xyxy) refer to. The ratio is the number
    of GT pixels whose centres lie inside the box divided by the GT pixel count (MaskIoU target, §3.4).
    """
    num = boxes.shape[0]
    targets = torch.zeros((num, resolution, resolution), dtype=torch.float32, device=boxes.device)
    ratios = torch.ones((num,), dtype=torch.float32, device=boxes.device)
    if num == 0:
        return targets, ratios
    height, width = gt_masks.shape[-2:]
    boxes = boxes.to(torch.float32)
    # pixel index range whose centres (i + 0.5) lie inside [x1, x2]
    x_lo = torch.ceil(boxes[:, 0] - 0.5).clamp(0, width).long()
    x_hi = (torch.floor(boxes[:, 2] - 0.5) + 1).clamp(0, width).long()
    y_lo = torch.ceil(boxes[:, 1] - 0.5).clamp(0, height).long()
    y_hi = (torch.floor(boxes[:, 3] - 0.5) + 1).clamp(0, height).long()
    used = torch.unique(matched)
    for start in range(0, used.numel(), chunk):
        gt_ids = used[start:start + chunk]
        masks = gt_masks[gt_ids.to(gt_masks.device)].to(device=boxes.device, dtype=torch.float32)
        rows = torch.isin(matched, gt_ids).nonzero(as_tuple=True)[0]
        local = torch.searchsorted(gt_ids, matched[rows])
        rois = torch.cat([local[:, None].to(torch.float32), boxes[rows]], dim=1)
        crops = roi_align(masks[:, None], rois, resolution, spatial_scale=1.0, sampling_ratio=0, aligned=True)
        targets[rows] = (crops[:, 0] >= 0.5).to(torch.float32)
        integral = torch.nn.functional.pad(masks.cumsum(1).cumsum(2), (1, 0, 1, 0))
        inside = (integral[local, y_hi[rows], x_hi[rows]] - integral[local, y_lo[rows], x_hi[rows]]
                  - integral[local, y_hi[rows], x_lo[rows]] + integral[local, y_lo[rows], x_lo[rows]])
        total = masks.sum((1, 2))[local]
        ratios[rows] = (inside / total.clamp(min=1.0)).clamp(1e-10, 1.0)
    return targets, ratios


def polygon_mask_targets_and_ratios(polygons: Sequence[Sequence[np.ndarray]], matched: Tensor, boxes: Tensor,
                                    resolution: int = 28) -> tuple[Tensor, Tensor]:
    """28x28 targets rasterised from the GT polygons inside each RoI, and the MaskIoU area ratios.

    Targets as detectron2's ``PolygonMasks.crop_and_resize``: each polygon of the matched GT is shifted
    to the box origin, scaled by ``resolution / max(side, 0.1)`` per axis and rasterised at
    ``resolution x resolution`` with pycocotools (parts merged). Ratios as centermask2's MaskIoU head:
    the polygons shifted (not scaled) and rasterised on the box's own pixel grid (sides truncated to
    whole pixels), that pixel count over the polygons' shoelace area, clamped to [1e-10, 1].
    ``polygons[g]`` holds GT ``g``'s parts in the coordinates ``boxes`` (R,4 xyxy) refer to.
    """
    from pycocotools import mask as mask_utils

    num = boxes.shape[0]
    targets = np.zeros((num, resolution, resolution), dtype=np.float32)
    ratios = np.ones((num,), dtype=np.float32)
    box_np = boxes.detach().to("cpu", torch.float64).numpy()
    for r, g in enumerate(matched.tolist()):
        parts = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons[g]]
        x0, y0, x1, y1 = box_np[r]
        origin = np.array([x0, y0])
        scale = np.array([resolution / max(x1 - x0, 0.1), resolution / max(y1 - y0, 0.1)])
        scaled = [((p - origin) * scale).reshape(-1) for p in parts]
        rle = mask_utils.merge(mask_utils.frPyObjects(scaled, resolution, resolution))
        with warnings.catch_warnings():  # pycocotools' decode trips a numpy 2 DeprecationWarning
            warnings.simplefilter("ignore", DeprecationWarning)
            targets[r] = mask_utils.decode(rle)
        bw, bh = int(x1 - x0), int(y1 - y0)
        inside = 0.0
        if bw > 0 and bh > 0:
            shifted = [(p - origin).reshape(-1) for p in parts]
            inside = float(mask_utils.area(mask_utils.frPyObjects(shifted, bh, bw)).sum())
        total = sum(polygon_area(p) for p in parts)
        ratios[r] = min(max(inside / total if total > 0 else 0.0, 0.0), 1.0)
    return (torch.from_numpy(targets).to(boxes.device),
            torch.from_numpy(np.maximum(ratios, 1e-10)).to(boxes.device))
