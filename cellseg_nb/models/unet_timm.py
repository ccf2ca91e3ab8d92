"""U-Net decoder on a timm ``features_only`` encoder, with weights from a local file (no hub downloads).

The encoder is built with ``pretrained=False`` and, when ``encoder_weights`` is given, loaded from that
file (a state dict of the plain timm model, ``.pth`` or ``.safetensors``, e.g.
``torch.save(timm.create_model(name).state_dict(), f)``), read strictly by :mod:`cellseg_nb.weights`;
``encoder_weights`` may also be a model-zoo name.
The grey input is repeated to the encoder's channels.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .unet import NUM_CLASSES, ConvBlock, SemanticSegmenter
from .registry import keyword_names, register_family


class TimmUNet(SemanticSegmenter):
    """Encoder ``timm.create_model(encoder, features_only=True)``; decoder of conv blocks with skips."""

    def __init__(self, encoder: str = "resnet18", *, encoder_weights: str | Path | None = None,
                 decoder_width_mult: float = 1.0, norm: str = "batch", in_chans: int = 3, **kwargs) -> None:
        super().__init__(**kwargs)
        import timm

        self.in_chans = in_chans
        self.encoder = timm.create_model(encoder, pretrained=False, features_only=True, in_chans=in_chans)
        if encoder_weights is not None:
            self._load_encoder(encoder, Path(encoder_weights), in_chans)
        chans = list(self.encoder.feature_info.channels())
        self.reductions = list(self.encoder.feature_info.reduction())
        dec = [max(8, int(round(c * decoder_width_mult))) for c in chans[:-1]]
        self.lateral = nn.Conv2d(chans[-1], dec[-1], 1)
        self.blocks = nn.ModuleList()
        deep = dec[-1]
        for skip_c, out_c in zip(reversed(chans[:-1]), reversed(dec)):
            self.blocks.append(ConvBlock(deep + skip_c, out_c, norm))
            deep = out_c
        self.head = nn.Conv2d(deep, NUM_CLASSES, 1)

    def _load_encoder(self, name: str, path: Path, in_chans: int) -> None:
        """Strictly, through :mod:`cellseg_nb.weights` (the classifier of an ImageNet file is ignored)."""
        from ..weights import init_weights

        self.encoder_report = init_weights(self.encoder, path)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = max(self.reductions)
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        feats = self.encoder(x.expand(-1, self.in_chans, -1, -1))
        y = self.lateral(feats[-1])
        for skip, block in zip(reversed(feats[:-1]), self.blocks):
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], 1))
        y = F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return y[..., :h, :w]


def _build_timm_unet(name: str, **kwargs) -> TimmUNet:
    return TimmUNet(**kwargs)


register_family("unet_timm", ("unet_timm",), "semantic", _build_timm_unet,
                keyword_names(TimmUNet.__init__, SemanticSegmenter.__init__))
