"""VoVNetV2 backbone (timm ``ese_vovnet*``) returning C3, C4, C5 (strides 8, 16, 32).

centermask2 builds an eSE module in every OSA block, timm only in the last block of each stage
(spec §1.2/§1.3); `ese_every_block=True` adds the missing ones so V-39/57/99 match centermask2 (and its
checkpoints) exactly. The added eSE starts as the identity (fc weight 0, bias 3: hardsigmoid(3) = 1) so
timm ImageNet weights keep their function. BatchNorm can be frozen (centermask2 FrozenBN). A `checkpoint`
(timm state dict, detectron2 ImageNet VoVNet or a centermask2 detector's trunk) is read by
:mod:`cellseg_nb.weights`, strictly.
"""

from __future__ import annotations

from pathlib import Path

import timm
from timm.layers import freeze_batch_norm_2d
from timm.models.vovnet import OsaBlock
from torch import Tensor, nn

#: features_only indices of stage3/4/5 (feature_info: stem, stage2, stage3, stage4, stage5).
C3_TO_C5 = (2, 3, 4)


class IdentityInitESE(nn.Module):
    """Effective squeeze-excitation: x * hardsigmoid(fc(mean(x))); fc is a 1x1 conv with bias."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1, bias=True)
        nn.init.zeros_(self.fc.weight)
        nn.init.constant_(self.fc.bias, 3.0)

    def forward(self, x: Tensor) -> Tensor:
        return x * nn.functional.hardsigmoid(self.fc(x.mean((2, 3), keepdim=True)))


def add_ese_to_every_block(model: nn.Module) -> int:
    """Give every OSA block without attention an identity-initialised eSE; return how many were added."""
    added = 0
    for module in model.modules():
        if isinstance(module, OsaBlock) and module.attn is None:
            module.attn = IdentityInitESE(module.conv_concat.conv.out_channels)
            added += 1
    return added


def timm_key_to_features_key(key: str) -> str:
    """Full timm vovnet key (`stem.0.conv.weight`, `stages.1...`) -> features_only key (`stem_0...`)."""
    for prefix in ("stem.", "stages."):
        if key.startswith(prefix):
            head, index, rest = key.split(".", 2)
            return f"{head}_{index}.{rest}"
    return key


class VoVNetBackbone(nn.Module):
    """timm VoVNetV2 trunk; `forward(x: Bx3xHxW) -> [C3, C4, C5]`; `out_channels` lists their widths."""

    def __init__(self, name: str, *, ese_every_block: bool = True, frozen_bn: bool = True,
                 checkpoint: str | Path | None = None) -> None:
        super().__init__()
        body = timm.create_model(name, pretrained=False, features_only=True, out_indices=C3_TO_C5)
        self.num_added_ese = add_ese_to_every_block(body) if ese_every_block else 0
        self.weights_report = None  # cellseg_nb.weights.LoadReport when `checkpoint` was loaded
        self.checkpoint_report: dict[str, list[str]] | None = None
        if checkpoint is not None:
            from ...weights import init_weights  # the one weights reader (strict; timm, d2 or centermask2 file)

            self.weights_report = init_weights(body, checkpoint)
            self.checkpoint_report = {"missing": self.weights_report.missing,
                                      "unexpected": self.weights_report.unexpected}
        if frozen_bn:
            body = freeze_batch_norm_2d(body)
        self.body = body
        self.out_channels: list[int] = list(body.feature_info.channels())
        self.strides: list[int] = list(body.feature_info.reduction())

    def forward(self, x: Tensor) -> list[Tensor]:
        return list(self.body(x))
