"""SAG-Mask head (spec §3.3): conv3x3+ReLU x N, spatial attention (channel mean and max -> 3x3 conv without
bias -> sigmoid -> multiply, no residual), 2x2 stride-2 deconv + ReLU to 28x28, 1x1 class predictor."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _msra(conv: nn.Module) -> nn.Module:
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if getattr(conv, "bias", None) is not None:
        nn.init.zeros_(conv.bias)
    return conv


class SpatialAttention(nn.Module):
    """x * sigmoid(conv3x3([mean_c(x), max_c(x)])); the conv has no bias."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = _msra(nn.Conv2d(2, 1, 3, padding=1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class SAGMaskHead(nn.Module):
    """`forward(roi_features RxCx14x14) -> mask logits RxKx28x28` (names as centermask2's mask_head)."""

    def __init__(self, in_channels: int, num_convs: int, conv_dim: int, num_classes: int) -> None:
        super().__init__()
        self.num_convs = num_convs
        for i in range(num_convs):
            self.add_module(f"mask_fcn{i + 1}", _msra(nn.Conv2d(in_channels if i == 0 else conv_dim, conv_dim, 3,
                                                                padding=1)))
        self.spatialAtt = SpatialAttention()
        self.deconv = _msra(nn.ConvTranspose2d(conv_dim, conv_dim, 2, stride=2))
        self.predictor = nn.Conv2d(conv_dim, num_classes, 1)
        nn.init.normal_(self.predictor.weight, std=0.001)
        nn.init.zeros_(self.predictor.bias)

    def forward(self, x: Tensor) -> Tensor:
        for i in range(self.num_convs):
            x = F.relu(getattr(self, f"mask_fcn{i + 1}")(x))
        x = self.spatialAtt(x)
        return self.predictor(F.relu(self.deconv(x))).float()  # fp32 logits under autocast too


def select_class(mask_logits: Tensor, classes: Tensor) -> Tensor:
    """(R,K,M,M) logits -> (R,M,M) logits of each RoI's class."""
    return mask_logits[torch.arange(len(classes), device=mask_logits.device), classes]


def mask_loss(mask_logits: Tensor, classes: Tensor, mask_targets: Tensor) -> Tensor:
    """Mean BCE-with-logits over the 28x28 logits of each positive RoI's GT class."""
    if mask_targets.numel() == 0:
        return mask_logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(select_class(mask_logits, classes), mask_targets.to(mask_logits.dtype))
