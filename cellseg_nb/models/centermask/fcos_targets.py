"""FCOS locations and training targets (spec §2.2): per-level size ranges on max(l,t,r,b), center sampling
with radius 1.5 strides, ties to the smallest box, regression targets divided by the level stride."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def level_locations(height: int, width: int, stride: int, device: torch.device | str = "cpu") -> Tensor:
    """(H*W, 2) x, y pixel positions of a level's cells, row-major: x = i*stride + stride//2."""
    xs = torch.arange(width, device=device, dtype=torch.float32) * stride + stride // 2
    ys = torch.arange(height, device=device, dtype=torch.float32) * stride + stride // 2
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def centerness_target(ltrb: Tensor) -> Tensor:
    """sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b)) for an (N, 4) tensor of l, t, r, b distances."""
    lr = ltrb[:, [0, 2]]
    tb = ltrb[:, [1, 3]]
    ratio = (lr.min(1).values / lr.max(1).values.clamp(min=1e-12)) * \
            (tb.min(1).values / tb.max(1).values.clamp(min=1e-12))
    return ratio.clamp(min=0).sqrt()


@dataclass
class FCOSTargets:
    """Targets for all locations of one image, levels concatenated (P3 first).

    labels: (L,) int64 class index 0..K-1, K = background; reg: (L, 4) l,t,r,b / stride;
    matched: (L,) index of the assigned GT box, -1 for background.
    """

    labels: Tensor
    reg: Tensor
    matched: Tensor


def assign_targets(locations: list[Tensor], strides: list[int], sizes_of_interest: list[tuple[float, float]],
                   boxes: Tensor, labels: Tensor, num_classes: int, radius: float = 1.5) -> FCOSTargets:
    """FCOS targets of one image. `boxes` (G, 4) xyxy pixels, `labels` (G,) class index 0..K-1.

    A location is positive for a box when it lies strictly inside the box and inside the square of
    half-side radius*stride around the box centre (clipped to the box), and max(l,t,r,b) lies in the
    level's size range (both ends inclusive). Among several such boxes the smallest area wins.
    """
    points = torch.cat(locations, dim=0)
    device = points.device
    num_points = points.shape[0]
    level_stride = torch.cat([torch.full((len(loc),), float(s), device=device) for loc, s in zip(locations, strides)])
    ranges = torch.cat([torch.tensor([lo_hi], device=device, dtype=torch.float32).expand(len(loc), 2)
                        for loc, lo_hi in zip(locations, sizes_of_interest)])
    if boxes.numel() == 0:
        return FCOSTargets(torch.full((num_points,), num_classes, dtype=torch.int64, device=device),
                           torch.zeros((num_points, 4), device=device),
                           torch.full((num_points,), -1, dtype=torch.int64, device=device))
    boxes = boxes.to(device=device, dtype=torch.float32)
    x, y = points[:, 0:1], points[:, 1:2]
    ltrb = torch.stack([x - boxes[:, 0], y - boxes[:, 1], boxes[:, 2] - x, boxes[:, 3] - y], dim=2)  # (L, G, 4)
    if radius > 0:
        cx = (boxes[:, 0] + boxes[:, 2]) / 2
        cy = (boxes[:, 1] + boxes[:, 3]) / 2
        half = level_stride[:, None] * radius
        sx1 = torch.maximum(cx - half, boxes[:, 0])
        sy1 = torch.maximum(cy - half, boxes[:, 1])
        sx2 = torch.minimum(cx + half, boxes[:, 2])
        sy2 = torch.minimum(cy + half, boxes[:, 3])
        inside = torch.stack([x - sx1, y - sy1, sx2 - x, sy2 - y], dim=2).min(dim=2).values > 0
    else:
        inside = ltrb.min(dim=2).values > 0
    max_side = ltrb.max(dim=2).values
    in_range = (max_side >= ranges[:, 0:1]) & (max_side <= ranges[:, 1:2])
    areas = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[None].expand(num_points, -1).clone()
    areas[~(inside & in_range)] = float("inf")
    min_area, matched = areas.min(dim=1)
    background = torch.isinf(min_area)
    target_labels = labels.to(device)[matched].clone()
    target_labels[background] = num_classes
    reg = ltrb[torch.arange(num_points, device=device), matched] / level_stride[:, None]
    matched = matched.clone()
    matched[background] = -1
    return FCOSTargets(target_labels, reg, matched)
