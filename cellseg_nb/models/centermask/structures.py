"""Small typed containers that CenterMask's parts hand each other (torchvision style, no bare lists)."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class FCOSOutputs(NamedTuple):
    """The FCOS head's raw outputs, one tensor per pyramid level: class logits B x K x H x W, box
    regression B x 4 x H x W (in strides), centerness logits B x 1 x H x W."""

    cls: list[Tensor]
    reg: list[Tensor]
    ctr: list[Tensor]

    def image(self, index: int) -> "ImageFCOSOutputs":
        """One image's outputs flattened per level: cls (HW, K), reg (HW, 4), ctr (HW,)."""
        return ImageFCOSOutputs([c[index].permute(1, 2, 0).reshape(-1, c.shape[1]) for c in self.cls],
                                [r[index].permute(1, 2, 0).reshape(-1, 4) for r in self.reg],
                                [t[index].reshape(-1) for t in self.ctr])

    def detached(self) -> "FCOSOutputs":
        return FCOSOutputs([c.detach() for c in self.cls], [r.detach() for r in self.reg],
                           [t.detach() for t in self.ctr])


class ImageFCOSOutputs(NamedTuple):
    """One image's FCOS outputs, flattened per level."""

    cls: list[Tensor]
    reg: list[Tensor]
    ctr: list[Tensor]


class PyramidFeatures(NamedTuple):
    """What one forward pass of backbone, FPN and FCOS head gives: the pyramid levels P3-P7, each level's
    location centres (HW, 2) in input pixels, and the FCOS outputs."""

    levels: list[Tensor]
    locations: list[Tensor]
    fcos: FCOSOutputs


class ScaledTargets(NamedTuple):
    """Each training image's ground-truth boxes in the resized image (G, 4) and class indices 0..K-1."""

    boxes: list[Tensor]
    classes: list[Tensor]


class MaskRoIs(NamedTuple):
    """The foreground RoIs of a batch for the mask branch: boxes per image (resized image pixels), the
    matched cell's class, its 28 x 28 mask target and the share of its area inside the box (MaskIoU)."""

    boxes: list[Tensor]
    classes: Tensor
    mask_targets: Tensor
    area_ratios: Tensor
