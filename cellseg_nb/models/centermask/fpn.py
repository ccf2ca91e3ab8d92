"""FPN over C3-C5 with the FCOS top block: P3-P5 by lateral 1x1 + top-down sum + 3x3 output convs,
P6 = 3x3/s2 conv on the P5 *output*, P7 = 3x3/s2 conv on ReLU(P6) (spec §2.1)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def _xavier_like(conv: nn.Conv2d) -> nn.Conv2d:
    """detectron2 c2_xavier_fill: kaiming_uniform(a=1), bias 0."""
    nn.init.kaiming_uniform_(conv.weight, a=1)
    nn.init.zeros_(conv.bias)
    return conv


class FPN(nn.Module):
    """`forward([C3, C4, C5]) -> [P3, P4, P5, P6, P7]`, every level with `out_channels` channels."""

    def __init__(self, in_channels: list[int], out_channels: int) -> None:
        super().__init__()
        c3, c4, c5 = in_channels
        self.lateral3 = _xavier_like(nn.Conv2d(c3, out_channels, 1))
        self.lateral4 = _xavier_like(nn.Conv2d(c4, out_channels, 1))
        self.lateral5 = _xavier_like(nn.Conv2d(c5, out_channels, 1))
        self.output3 = _xavier_like(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.output4 = _xavier_like(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.output5 = _xavier_like(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.p6 = _xavier_like(nn.Conv2d(out_channels, out_channels, 3, stride=2, padding=1))
        self.p7 = _xavier_like(nn.Conv2d(out_channels, out_channels, 3, stride=2, padding=1))
        self.out_channels = out_channels

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        c3, c4, c5 = features
        top5 = self.lateral5(c5)
        top4 = self.lateral4(c4) + F.interpolate(top5, size=c4.shape[-2:], mode="nearest")
        top3 = self.lateral3(c3) + F.interpolate(top4, size=c3.shape[-2:], mode="nearest")
        p5 = self.output5(top5)
        p6 = self.p6(p5)
        p7 = self.p7(F.relu(p6))
        return [self.output3(top3), self.output4(top4), p5, p6, p7]
