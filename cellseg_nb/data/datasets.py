"""torch Datasets over a LIVECell COCO file: semantic maps for U-Nets, instance targets for CenterMask.

Items are ``(image, target)``: ``image`` a float32 ``1 x H x W`` tensor in raw grey levels (each model
normalises itself), ``target`` a dict following the torchvision detection convention (see
``docs/architecture.md``). Items are ordered as ``dataset.coco.images``. Random crops and augmentation
are drawn from ``numpy.random.default_rng([seed, epoch, index])``, so an item is the same in any worker
and after a resume, and changes with :meth:`set_epoch`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import DataError
from .cache import TargetCache, content_key
from .coco import CocoDataset, OnError, load_coco
from .images import read_image
from .layout import ImageLocator
from .polygons import window_polygons
from .geometry import boxes_from_masks
from .targets import DEFAULT_BOUNDARY_WIDTH, RasterTargets, rasterize
from .transforms import (AugmentConfig, Geometry, apply_geometry, augment_config, crop_size_pair, draw_geometry,
                         draw_window, jitter_intensity)

log = logging.getLogger(__name__)


class _CocoImageDataset(torch.utils.data.Dataset):
    """Shared loading: records, image files, cached targets, crop and augmentation draws."""

    def __init__(self, annotations: str | Path | CocoDataset, images: str | Path, *,
                 cell_types: Sequence[str] | str | None = None, crop_size: int | tuple[int, int] | None = None,
                 augment: bool | AugmentConfig = False, cache_dir: str | Path | None = None, seed: int = 0,
                 boundary_width: int = DEFAULT_BOUNDARY_WIDTH, on_error: OnError = "raise") -> None:
        if isinstance(annotations, CocoDataset):
            coco, cache_key = annotations, content_key(annotations.annotations)
        else:
            coco, cache_key = load_coco(annotations, on_error=on_error), None
        coco = coco.filter_cell_types(cell_types) if cell_types else coco
        self.on_error = on_error
        self.skipped: list[str] = list(coco.skipped)
        self.locator = ImageLocator(images)
        where = coco.path or "<annotations>"
        paths, keep = [], []
        for img in coco.images:
            record = f"image id={img['id']!r}"
            found = self.locator.find(img["file_name"])
            if found is None:
                try:
                    self.locator.resolve(img["file_name"], record=record, annotations=where)
                except DataError as exc:
                    if on_error == "raise":
                        raise
                    self.skipped.append(f"{record}: {exc.problem}")
                    log.warning("%s (skipped)", exc)
                continue
            keep.append(img["id"])
            paths.append(found)
        self.coco = coco if len(keep) == len(coco.images) else coco.subset(keep)
        self._paths = paths
        self.crop = crop_size_pair(crop_size)
        self.augment = augment_config(augment)
        self.seed = int(seed)
        self.epoch = 0
        self.boundary_width = int(boundary_width)
        self.cache: TargetCache | None = None
        if cache_dir is not None:
            source = "memory" if cache_key is not None else coco.path
            self.cache = TargetCache(cache_dir, source, boundary_width=boundary_width, key=cache_key)
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.coco.images)

    def set_epoch(self, epoch: int) -> None:
        """New crops and augmentation draws for each epoch (call it as DistributedSampler's set_epoch)."""
        self.epoch = int(epoch)

    def _window_and_geometry(self, index: int, height: int, width: int
                             ) -> tuple[np.random.Generator, tuple[int, int, int, int], Geometry]:
        """The item's generator, crop window ``(top, left, h, w)`` in the raw image and dihedral transform."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        geom = draw_geometry(rng, self.augment)
        crop = self.crop
        if crop is not None and geom.swaps_axes:
            crop = (crop[1], crop[0])  # so the rotated window has the asked-for shape
        return rng, draw_window(rng, height, width, crop), geom

    def _load(self, index: int) -> tuple[np.ndarray, RasterTargets]:
        img = self.coco.images[index]
        record = f"image id={img['id']!r}"
        try:
            image = read_image(self._paths[index], expected_size=(img["width"], img["height"]))
        except DataError as exc:
            raise DataError(exc.problem, file=exc.file, record=record) from None
        anns = self.coco.annotations_for(img["id"])
        h, w = image.shape
        if self.cache is not None:
            return image, self.cache.get(img["id"], anns, h, w)
        return image, rasterize(anns, h, w, self.boundary_width)

    def __getitem__(self, index: int):
        n = len(self)
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for {n} images")
        for offset in range(n):
            k = (index + offset) % n
            if k in self._bad:
                continue
            try:
                return self._item(k, *self._load(k))
            except DataError as exc:
                if self.on_error == "raise":
                    raise
                self._bad.add(k)
                self.skipped.append(f"{exc.record}: {exc.problem}")
                log.warning("%s (skipped)", exc)
        raise DataError("every image of the dataset failed to load", file=self.coco.path or "<annotations>")

    def _crop_image(self, image: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
        top, left, h, w = window
        part = image[top:top + h, left:left + w]
        if part.shape != (h, w):  # image smaller than the crop: pad with its median grey level
            padded = np.full((h, w), np.median(image), np.float32)
            padded[:part.shape[0], :part.shape[1]] = part
            return padded
        return part

    def _common(self, index: int, image: np.ndarray, targets: RasterTargets):
        rng, window, geom = self._window_and_geometry(index, *image.shape)
        top, left, h, w = window
        pixels = jitter_intensity(apply_geometry(self._crop_image(image, window), geom), rng, self.augment)
        semantic = np.zeros((h, w), np.uint8)
        part = targets.semantic[top:top + h, left:left + w]
        semantic[:part.shape[0], :part.shape[1]] = part
        img = self.coco.images[index]
        meta = {"image_id": img["id"], "cell_type": self.coco.cell_type(img["id"])}
        return pixels, apply_geometry(semantic, geom), window, geom, meta


class SemanticDataset(_CocoImageDataset):
    """Items ``(image 1xHxW float32, {"semantic": HxW int64 (0 bg, 1 interior, 2 boundary), "image_id",
    "cell_type"})``; full images without ``crop_size``."""

    def _item(self, index: int, image: np.ndarray, targets: RasterTargets):
        pixels, semantic, _, _, meta = self._common(index, image, targets)
        return torch.from_numpy(pixels.copy())[None], {"semantic": torch.from_numpy(semantic.astype(np.int64)), **meta}


class InstanceDataset(_CocoImageDataset):
    """Items ``(image, {"boxes" Nx4 float32 xyxy, "masks" NxHxW uint8, "labels" N int64 (all 1), "area" N
    float32, "semantic", "image_id", "cell_type"})``, plus ``"polygons"`` (per cell a list of flat float64
    ``[x, y, ...]`` arrays in the item's coordinates) when every cell is annotated by polygons; cells with
    no pixel in the crop are dropped."""

    def _item(self, index: int, image: np.ndarray, targets: RasterTargets):
        pixels, semantic, window, geom, meta = self._common(index, image, targets)
        masks, cells = targets.masks_in_window(*window)
        present = masks.any(axis=(1, 2))
        masks = apply_geometry(masks[present], geom)
        area = masks.sum(axis=(1, 2), dtype=np.int64).astype(np.float32)
        target = {
            "boxes": torch.from_numpy(boxes_from_masks(masks)), "masks": torch.from_numpy(masks),
            "labels": torch.ones(len(masks), dtype=torch.int64), "area": torch.from_numpy(area),
            "semantic": torch.from_numpy(semantic.astype(np.int64)), **meta}
        # polygon annotations also travel as polygons (CenterMask rasterises its 28x28 targets from them)
        polygons = window_polygons(self.coco.annotations_for(meta["image_id"]), cells[present], window, geom)
        if polygons is not None:
            target["polygons"] = polygons
        return torch.from_numpy(pixels.copy())[None], target


def collate_instances(batch: Sequence[tuple[torch.Tensor, dict[str, Any]]]) -> tuple[torch.Tensor, list[dict]]:
    """Stack images (all of one size) into ``B x 1 x H x W``; targets stay a list of dicts."""
    shapes = {tuple(item[0].shape) for item in batch}
    if len(shapes) != 1:
        raise ValueError(f"collate_instances: images must all have one size, got {sorted(shapes)} "
                         "(set crop_size, or use batch size 1 for full images of several sizes)")
    return torch.stack([item[0] for item in batch]), [item[1] for item in batch]
