"""CenterMask's adaptive RoI level assignment and multi-level RoIAlign (spec §3.1-3.2).

level k = clamp(ceil(k_max - log2(A_img / A_box)), 3, 5) with k_max = 5: a box larger than half the
image goes to P5, between a quarter and a half to P4, smaller to P3.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import roi_align

_EPS = torch.finfo(torch.float32).eps


def assign_levels_by_ratio(boxes: Tensor, image_area: float | Tensor, min_level: int = 3,
                           max_level: int = 5) -> Tensor:
    """(N,) int64 index into [P_min .. P_max] (0 = P3) for xyxy `boxes` in an image of `image_area` px."""
    box_area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).to(torch.float32)
    image_area = torch.as_tensor(image_area, dtype=torch.float32, device=boxes.device)
    ratio = image_area / box_area + _EPS
    level = torch.ceil(max_level - torch.log2(ratio))
    return (level.clamp(min_level, max_level) - min_level).to(torch.int64)


def pool_rois(features: list[Tensor], strides: list[int], boxes_per_image: list[Tensor],
              image_areas: list[float], resolution: int) -> Tensor:
    """RoIAlign (aligned=True, sampling_ratio=0) of every box from its assigned level of `features` (P3-P5).

    Returns (sum N_i, C, resolution, resolution), boxes in image order.
    """
    levels = torch.cat([assign_levels_by_ratio(b, a, 3, 2 + len(features))
                        for b, a in zip(boxes_per_image, image_areas)])
    rois = torch.cat([torch.cat([torch.full((len(b), 1), float(i), device=b.device, dtype=b.dtype), b], 1)
                      for i, b in enumerate(boxes_per_image)])
    out = features[0].new_zeros((rois.shape[0], features[0].shape[1], resolution, resolution))
    for level, (feature, stride) in enumerate(zip(features, strides)):
        index = (levels == level).nonzero(as_tuple=True)[0]
        if index.numel():
            out[index] = roi_align(feature, rois[index].to(feature.dtype), resolution,
                                   spatial_scale=1.0 / stride, sampling_ratio=0, aligned=True)
    return out

