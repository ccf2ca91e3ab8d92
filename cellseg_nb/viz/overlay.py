"""Instance masks to pictures: rasterise COCO records, trace outlines, blend coloured layers over an image.

Works one instance at a time from COCO records (polygons or RLE), so a crowded LIVECell image with
thousands of cells never needs an ``N x H x W`` array in memory just to draw its outlines.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
from scipy import ndimage

from .layers import MEANING_COLORS, Color

#: Colours of outline figures, from the browser's colour-blind-safe palette (one colour, one meaning):
#: ground truth sky blue, predictions orange, matched bluish green, spurious blue, missed vermillion.
COLORS: dict[str, Color] = {
    "gt": MEANING_COLORS["ground truth"],
    "prediction": MEANING_COLORS["prediction"],
    "tp": MEANING_COLORS["matched"],
    "fp": MEANING_COLORS["spurious"],
    "fn": MEANING_COLORS["missed"],
}


def record_mask(record: dict, height: int, width: int) -> np.ndarray:
    """Rasterise one COCO annotation or result record (polygon list or RLE) to a bool ``H x W`` mask."""
    from pycocotools import mask as mask_utils

    seg = record["segmentation"]
    if isinstance(seg, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
    elif isinstance(seg.get("counts"), list):
        rle = mask_utils.frPyObjects(seg, height, width)
    else:
        rle = seg
    return mask_utils.decode(rle).astype(bool)


def records_to_masks(records: Sequence[dict], height: int, width: int) -> np.ndarray:
    """Bool ``N x H x W`` masks of a list of records (use for a few instances; see :func:`outline_image`)."""
    masks = np.zeros((len(records), height, width), dtype=bool)
    for k, record in enumerate(records):
        masks[k] = record_mask(record, height, width)
    return masks


def mask_outline(mask: np.ndarray, thickness: int = 1) -> np.ndarray:
    """Inner boundary of a bool mask: mask pixels with a background 4-neighbour (``thickness`` px wide)."""
    mask = np.asarray(mask, dtype=bool)
    eroded = ndimage.binary_erosion(mask, iterations=thickness, border_value=0)
    return mask & ~eroded


def outline_image(masks: Iterable[np.ndarray] | np.ndarray, shape: tuple[int, int] | None = None,
                  thickness: int = 1) -> np.ndarray:
    """Union of the outlines of many instances; ``masks`` is ``N x H x W``, an iterable of masks, or a
    label image (``H x W`` integers, 0 = background)."""
    if isinstance(masks, np.ndarray) and masks.ndim == 2 and masks.dtype != bool:
        labels = masks
        out = np.zeros(labels.shape, dtype=bool)
        for sl, value in zip(ndimage.find_objects(labels), range(1, int(labels.max()) + 1)):
            if sl is None:
                continue
            pad = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in sl)
            out[pad] |= mask_outline(labels[pad] == value, thickness)
        return out
    out = None if shape is None else np.zeros(shape, dtype=bool)
    for mask in masks:
        out = np.zeros(mask.shape, dtype=bool) if out is None else out
        out |= mask_outline(mask, thickness)
    if out is None:
        raise ValueError("outline_image needs a shape when there are no masks")
    return out


def records_outline(records: Sequence[dict], height: int, width: int, thickness: int = 1) -> np.ndarray:
    """Union of the outlines of COCO records, rasterised one at a time."""
    return outline_image((record_mask(r, height, width) for r in records), (height, width), thickness)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Grey uint8 ``H x W`` (or RGB) to an RGB uint8 copy."""
    image = np.asarray(image)
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2).astype(np.uint8)
    return image[..., :3].astype(np.uint8).copy()


def blend(image: np.ndarray, layers: Sequence[tuple[np.ndarray, Color]], alpha: float = 1.0) -> np.ndarray:
    """Paint bool layers onto an image in order (later layers on top); ``alpha`` < 1 keeps the image visible."""
    rgb = to_rgb(image).astype(np.float32)
    for mask, color in layers:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != rgb.shape[:2]:
            raise ValueError(f"layer shape {mask.shape} does not match image shape {rgb.shape[:2]}")
        rgb[mask] = (1 - alpha) * rgb[mask] + alpha * np.asarray(color, dtype=np.float32)
    return np.clip(rgb, 0, 255).astype(np.uint8)
