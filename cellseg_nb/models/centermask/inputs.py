"""Input handling: validation of raw images, shortest-edge resizing, LIVECell normalisation repeated to 3
channels, zero padding to a multiple of 32 (after normalisation), and test-size tiling windows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from cellseg_nb.errors import DataError


def as_image_list(images: Tensor | Sequence[Tensor]) -> list[Tensor]:
    """Bx1xHxW tensor or a list of 1xHxW / HxW tensors -> list of float32 1xHxW tensors (raw 0..255)."""
    if isinstance(images, Tensor):
        if images.dim() != 4 or images.shape[1] != 1:
            raise DataError(f"images must be B x 1 x H x W, got shape {tuple(images.shape)}", record="images")
        items = list(images)
    else:
        items = list(images)
    out = []
    for index, image in enumerate(items):
        if not isinstance(image, Tensor):
            raise DataError(f"expected a tensor, got {type(image).__name__}", record=f"images[{index}]")
        if image.dim() == 2:
            image = image[None]
        if image.dim() != 3 or image.shape[0] != 1:
            raise DataError(f"each image must be 1 x H x W, got {tuple(image.shape)}", record=f"images[{index}]")
        if image.shape[1] < 8 or image.shape[2] < 8:
            raise DataError(f"image too small: {tuple(image.shape)}", record=f"images[{index}]")
        out.append(image.to(torch.float32))
    if not out:
        raise DataError("no images given", record="images")
    return out


def resized_size(height: int, width: int, min_size: int, max_size: int) -> tuple[int, int]:
    """detectron2 ResizeShortestEdge: short side -> min_size unless the long side would pass max_size."""
    scale = min_size / min(height, width)
    if max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


@dataclass
class ImageBatch:
    """Normalised, padded batch (B,3,Hp,Wp); per image: processed size (h, w) and scale (sy, sx) vs input."""

    tensor: Tensor
    sizes: list[tuple[int, int]]
    scales: list[tuple[float, float]]


def prepare_batch(images: list[Tensor], sizes: list[tuple[int, int]], mean: float, std: float,
                  divisibility: int) -> ImageBatch:
    """Resize each 1xHxW raw image (bilinear) to its size, normalise, repeat to 3 channels, zero-pad."""
    max_h = int(math.ceil(max(s[0] for s in sizes) / divisibility) * divisibility)
    max_w = int(math.ceil(max(s[1] for s in sizes) / divisibility) * divisibility)
    batch = images[0].new_zeros((len(images), 3, max_h, max_w))
    scales = []
    for i, (image, (h, w)) in enumerate(zip(images, sizes)):
        if (h, w) != tuple(image.shape[-2:]):
            image = F.interpolate(image[None], size=(h, w), mode="bilinear", align_corners=False)[0]
        batch[i, :, :h, :w] = ((image - mean) / std).expand(3, h, w)
        scales.append((h / images[i].shape[-2], w / images[i].shape[-1]))
    return ImageBatch(batch, list(sizes), scales)


@dataclass(frozen=True)
class TileWindow:
    """A tile [y0:y1, x0:x1] of the input and its core [cy0:cy1, cx0:cx1] (detections are kept when their
    box centre lies in the core; cores partition the image)."""

    y0: int
    y1: int
    x0: int
    x1: int
    cy0: float
    cy1: float
    cx0: float
    cx1: float


def _spans(length: int, tile: int, overlap: int) -> list[tuple[int, int, float, float]]:
    tile = min(tile, length)
    if tile >= length:
        return [(0, length, 0.0, float(length))]
    count = int(math.ceil((length - overlap) / (tile - overlap)))
    starts = [round(i * (length - tile) / (count - 1)) for i in range(count)]
    ends = [s + tile for s in starts]
    bounds = [0.0] + [(starts[i + 1] + ends[i]) / 2 for i in range(count - 1)] + [float(length)]
    return [(starts[i], ends[i], bounds[i], bounds[i + 1]) for i in range(count)]


def needs_tiling(height: int, width: int, min_size: int, max_size: int) -> bool:
    """True when the image is larger than the test size (the test resize would shrink it)."""
    return min(height, width) > min_size or max(height, width) > max_size


def tile_windows(height: int, width: int, min_size: int, max_size: int, overlap: int) -> list[TileWindow]:
    """Overlapping tiles of the test size (min_size along the short side of the image, max_size along
    the long side), evenly spread, overlapping by at least `overlap` pixels."""
    tile_h, tile_w = (min_size, max_size) if width >= height else (max_size, min_size)
    return [TileWindow(y0, y1, x0, x1, cy0, cy1, cx0, cx1)
            for (y0, y1, cy0, cy1) in _spans(height, tile_h, overlap)
            for (x0, x1, cx0, cx1) in _spans(width, tile_w, overlap)]
