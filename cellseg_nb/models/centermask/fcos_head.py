"""FCOS head shared across P3-P7 (spec §2.2): GN(32) towers, class logits, ReLU(scale*reg), centerness on
the box tower. Module names follow centermask2 (`cls_tower.{0,3,..}` conv, `.{1,4,..}` GroupNorm)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Scale(nn.Module):
    """A learnable scalar multiplier (one per FPN level)."""

    def __init__(self, init: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([init], dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


def _tower(channels: int, num_convs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.GroupNorm(32, channels), nn.ReLU()]
    return nn.Sequential(*layers)


class FCOSHead(nn.Module):
    """`forward(P3..P7) -> (cls_logits, box_reg, ctr_logits)`, lists per level of BxKxHxW, Bx4xHxW, Bx1xHxW.

    `box_reg` is ReLU(scale * pred) in units of the level stride (norm_reg_targets); multiply by the
    stride for pixels.
    """

    def __init__(self, channels: int, num_classes: int, num_convs: int, num_levels: int = 5,
                 prior_prob: float = 0.01) -> None:
        super().__init__()
        self.cls_tower = _tower(channels, num_convs)
        self.bbox_tower = _tower(channels, num_convs)
        self.cls_logits = nn.Conv2d(channels, num_classes, 3, padding=1)
        self.bbox_pred = nn.Conv2d(channels, 4, 3, padding=1)
        self.ctrness = nn.Conv2d(channels, 1, 3, padding=1)
        self.scales = nn.ModuleList(Scale(1.0) for _ in range(num_levels))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - prior_prob) / prior_prob))

    def forward(self, features: list[Tensor]) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        cls_out, reg_out, ctr_out = [], [], []
        for level, feature in enumerate(features):
            cls_feat = self.cls_tower(feature)
            box_feat = self.bbox_tower(feature)
            # float32 outputs: under bf16 autocast the box decoding, NMS and losses still work in fp32
            cls_out.append(self.cls_logits(cls_feat).float())
            reg_out.append(F.relu(self.scales[level](self.bbox_pred(box_feat).float())))
            ctr_out.append(self.ctrness(box_feat).float())
        return cls_out, reg_out, ctr_out
