"""Configurable U-Net for 3-class (background / interior / boundary) instance-aware segmentation.

Presets of the study: ``unet`` (64-128-256-512), ``unet_expanded`` (+1024), ``unet_deep`` (+1024, 2048),
each with ``width_mult`` so small versions run on CPU. Inputs are B x 1 x H x W raw intensities
(0..255); the model normalises itself. Train mode: ``model(images, targets)`` -> ``{"loss_ce", ["loss_dice"]}``
from ``target["semantic"]``; eval mode: ``model(images)`` -> one dict per image with ``masks``,
``scores``, ``boxes`` and ``semantic_probs`` (see :mod:`cellseg_nb.models.postprocess`).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .postprocess import PostprocessParams, semantic_to_instances
from .registry import keyword_names, register_family

UNET_PRESETS: dict[str, tuple[int, ...]] = {
    "unet": (64, 128, 256, 512),
    "unet_expanded": (64, 128, 256, 512, 1024),
    "unet_deep": (64, 128, 256, 512, 1024, 2048),
}

NUM_CLASSES = 3


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(32, channels // 4) or 1, channels)
    raise ValueError(f"norm must be 'batch' or 'group', got {kind!r}")


class ConvBlock(nn.Sequential):
    """Two (3x3 conv -> norm -> ReLU) layers."""

    def __init__(self, cin: int, cout: int, norm: str) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), _norm(norm, cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), _norm(norm, cout), nn.ReLU(inplace=True),
        )


class SemanticSegmenter(nn.Module):
    """Shared train/eval behaviour of every 3-class semantic model (losses and post-processing).

    Subclasses implement ``logits(x)`` taking normalised B x 1 x H x W input and returning B x 3 x H x W.
    """

    def __init__(self, *, mean: float = 128.0, std: float = 11.578, boundary_weight: float = 2.0,
                 dice_weight: float = 0.0, postprocess: PostprocessParams | dict | None = None) -> None:
        super().__init__()
        self.mean = float(mean)
        self.std = float(std)
        self.dice_weight = float(dice_weight)
        self.register_buffer("class_weights", torch.tensor([1.0, 1.0, float(boundary_weight)]), persistent=False)
        if isinstance(postprocess, dict):
            postprocess = PostprocessParams(**postprocess)
        self.postprocess = postprocess or PostprocessParams()

    def logits(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def semantic_logits(self, images: torch.Tensor) -> torch.Tensor:
        """B x 3 x H x W logits for raw-intensity images B x 1 x H x W."""
        if images.ndim != 4 or images.shape[1] != 1:
            raise ValueError(f"images must be B x 1 x H x W, got {tuple(images.shape)}")
        return self.logits((images - self.mean) / self.std)

    def losses(self, logits: torch.Tensor, targets: Sequence[dict]) -> dict[str, torch.Tensor]:
        """Weighted cross-entropy (and optional soft Dice) against ``target["semantic"]``."""
        sem = torch.stack([t["semantic"] for t in targets]).to(logits.device, torch.long)
        logits = logits.float()
        out = {"loss_ce": F.cross_entropy(logits, sem, weight=self.class_weights.to(logits.device))}
        if self.dice_weight > 0:
            probs = logits.softmax(1)
            onehot = F.one_hot(sem, NUM_CLASSES).permute(0, 3, 1, 2).float()
            inter = (probs * onehot).sum((0, 2, 3))
            denom = probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
            out["loss_dice"] = self.dice_weight * (1 - ((2 * inter + 1) / (denom + 1)).mean())
        return out

    def forward(self, images: torch.Tensor, targets: Sequence[dict] | None = None):
        logits = self.semantic_logits(images)
        if self.training:
            if targets is None:
                raise ValueError("train mode needs targets with a 'semantic' map")
            return self.losses(logits, targets)
        probs = logits.float().softmax(1)
        return [semantic_to_instances(p, self.postprocess) for p in probs]


class UNet(SemanticSegmenter):
    """U-Net with ``len(widths)`` levels (the last is the bottleneck), max-pool down, transposed-conv up."""

    def __init__(self, widths: Sequence[int] = UNET_PRESETS["unet"], *, width_mult: float = 1.0,
                 norm: str = "batch", in_channels: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        widths = [max(4, int(round(w * width_mult))) for w in widths]
        if len(widths) < 2:
            raise ValueError("a U-Net needs at least two levels")
        _norm(norm, 4)  # validate early
        self.widths = widths
        self.down = nn.ModuleList()
        cin = in_channels
        for w in widths:
            self.down.append(ConvBlock(cin, w, norm))
            cin = w
        self.up = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for w_skip, w_deep in zip(reversed(widths[:-1]), reversed(widths[1:])):
            self.up.append(nn.ConvTranspose2d(w_deep, w_skip, 2, stride=2))
            self.up_blocks.append(ConvBlock(2 * w_skip, w_skip, norm))
        self.head = nn.Conv2d(widths[0], NUM_CLASSES, 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2 ** (len(self.widths) - 1)
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        x = skips.pop()
        for up, block in zip(self.up, self.up_blocks):
            x = block(torch.cat([skips.pop(), up(x)], 1))
        return self.head(x)[..., :h, :w]


def build_unet(preset: str = "unet", **kwargs) -> UNet:
    """U-Net of a named preset (``unet``, ``unet_expanded``, ``unet_deep``); kwargs go to :class:`UNet`."""
    if preset not in UNET_PRESETS:
        raise ValueError(f"unknown U-Net preset {preset!r}; choose from {sorted(UNET_PRESETS)}")
    kwargs.setdefault("widths", UNET_PRESETS[preset])
    return UNet(**kwargs)


register_family("unet", tuple(UNET_PRESETS), "semantic", build_unet,
                keyword_names(UNet.__init__, SemanticSegmenter.__init__))
