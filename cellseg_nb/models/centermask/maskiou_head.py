"""MaskIoU head (spec §3.4): RoI features (C x 14 x 14) concat 2x2-max-pooled mask probability (28 -> 14),
N convs 3x3 + ReLU (last stride 2 -> 7x7), fc 1024, fc 1024, linear K; predicts each mask's IoU."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MaskIoUHead(nn.Module):
    """`forward(roi_features RxCx14x14, mask_prob Rx1x28x28) -> RxK` predicted mask IoU."""

    def __init__(self, in_channels: int, num_convs: int, conv_dim: int, num_classes: int,
                 resolution: int = 14) -> None:
        super().__init__()
        self.num_convs = num_convs
        for i in range(num_convs):
            stride = 2 if i == num_convs - 1 else 1
            conv = nn.Conv2d(in_channels + 1 if i == 0 else conv_dim, conv_dim, 3, stride=stride, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            self.add_module(f"maskiou_fcn{i + 1}", conv)
        pooled = (resolution + 1) // 2
        self.maskiou_fc1 = nn.Linear(conv_dim * pooled * pooled, 1024)
        self.maskiou_fc2 = nn.Linear(1024, 1024)
        self.maskiou = nn.Linear(1024, num_classes)
        for fc in (self.maskiou_fc1, self.maskiou_fc2):
            nn.init.kaiming_normal_(fc.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(fc.bias)
        nn.init.normal_(self.maskiou.weight, std=0.01)
        nn.init.zeros_(self.maskiou.bias)

    def forward(self, features: Tensor, mask_prob: Tensor) -> Tensor:
        x = torch.cat([features, F.max_pool2d(mask_prob, kernel_size=2, stride=2)], dim=1)
        for i in range(self.num_convs):
            x = F.relu(getattr(self, f"maskiou_fcn{i + 1}")(x))
        x = F.relu(self.maskiou_fc1(x.flatten(1)))
        x = F.relu(self.maskiou_fc2(x))
        return self.maskiou(x).float()  # fp32 under autocast too


def maskiou_targets(mask_logits: Tensor, mask_targets: Tensor, area_ratio: Tensor) -> Tensor:
    """IoU of the binarised mask (logit > 0) with the GT whose full area is estimated as crop area / ratio.

    mask_logits, mask_targets (R,28,28); area_ratio (R,) = GT area inside the RoI box / GT area.
    """
    pred = (mask_logits > 0).to(torch.float32)
    target = mask_targets.to(torch.float32)
    overlap = (pred * target).sum((1, 2))
    gt_full = target.sum((1, 2)) / area_ratio.clamp(1e-10, 1.0)
    union = pred.sum((1, 2)) + gt_full - overlap
    return (overlap / union.clamp(min=1e-10)).detach()


def maskiou_loss(pred_iou: Tensor, classes: Tensor, target_iou: Tensor, weight: float = 1.0) -> Tensor:
    """0.5 * (pred - target)^2 averaged over RoIs with target > 0, times `weight`."""
    chosen = pred_iou[torch.arange(len(classes), device=pred_iou.device), classes]
    valid = target_iou > 0
    if not bool(valid.any()):
        return pred_iou.sum() * 0.0
    return weight * 0.5 * ((chosen[valid] - target_iou[valid]) ** 2).mean()
