"""Seeded synthetic predictions and LIVECell-scale ground truth for tests and benchmarks.

Predictions imitate a model: every cell's polygon jittered, some cells dropped (misses), some duplicated
with lower scores (competing detections), some random polygons added (spurious), random scores.
:func:`tile_dataset` builds a large ground truth from real annotations by reusing each image's polygons
(randomly flipped and jittered) in new images, so benchmarks run at LIVECell scale from the 5-image sample.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from ..data.coco import CocoDataset


@dataclass
class PerturbConfig:
    """How far predictions stray from the truth (fractions are per ground-truth cell)."""

    jitter_px: float = 1.0      # std of vertex noise, pixels
    drop: float = 0.1           # fraction of cells with no prediction
    duplicate: float = 0.05     # fraction of cells predicted twice (second copy more jittered, lower score)
    add: float = 0.05           # spurious random polygons per cell
    spurious_radius: tuple[float, float] = (4.0, 20.0)


def perturbed_predictions(gt: CocoDataset, rng: np.random.Generator,
                          config: PerturbConfig | None = None) -> list[dict]:
    """COCO result records (polygon segmentations, random scores) derived from ``gt``'s cells."""
    cfg = config or PerturbConfig()
    results = []
    for img in gt.images:
        h, w = int(img["height"]), int(img["width"])
        anns = gt.annotations_for(img["id"])
        for ann in anns:
            if rng.random() < cfg.drop or not isinstance(ann["segmentation"], list):
                continue
            results.append(_record(img["id"], _jitter(ann["segmentation"], rng, cfg.jitter_px, w, h),
                                   float(rng.uniform(0.05, 1.0))))
            if rng.random() < cfg.duplicate:
                results.append(_record(img["id"], _jitter(ann["segmentation"], rng, 3 * cfg.jitter_px, w, h),
                                       float(rng.uniform(0.0, 0.6))))
        for _ in range(rng.binomial(len(anns), cfg.add) if anns else 0):
            results.append(_record(img["id"], [_random_ellipse(rng, w, h, cfg.spurious_radius)],
                                   float(rng.uniform(0.0, 0.8))))
    return results


def _record(image_id, polygons, score) -> dict:
    return {"image_id": image_id, "category_id": 1, "segmentation": polygons, "score": score}


def _jitter(polygons: list, rng: np.random.Generator, sigma: float, width: int, height: int) -> list:
    out = []
    for poly in polygons:
        xy = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
        xy = xy + rng.normal(0.0, sigma, xy.shape)
        xy[:, 0] = np.clip(xy[:, 0], 0, width)
        xy[:, 1] = np.clip(xy[:, 1], 0, height)
        out.append(xy.ravel().tolist())
    return out


def _random_ellipse(rng: np.random.Generator, width: int, height: int, radius: tuple[float, float]) -> list:
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    a, b = rng.uniform(*radius, size=2)
    angle = rng.uniform(0, np.pi)
    t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    x = cx + a * np.cos(t) * np.cos(angle) - b * np.sin(t) * np.sin(angle)
    y = cy + a * np.cos(t) * np.sin(angle) + b * np.sin(t) * np.cos(angle)
    return np.stack([np.clip(x, 0, width), np.clip(y, 0, height)], axis=1).ravel().tolist()


def tile_dataset(gt: CocoDataset, n_images: int, rng: np.random.Generator, *, jitter_px: float = 0.5) -> CocoDataset:
    """A ground truth of ``n_images`` images, each an annotated image of ``gt`` with its polygons randomly
    flipped and jittered (file names keep the source's cell type, crop numbers count up)."""
    sources = [img for img in gt.images if gt.annotations_for(img["id"])]
    if not sources:
        raise ValueError("tile_dataset needs at least one annotated image")
    images, annotations = [], []
    for k in range(n_images):
        src = sources[k % len(sources)]
        w, h = int(src["width"]), int(src["height"])
        flip_x, flip_y = rng.random() < 0.5, rng.random() < 0.5
        stem = src["file_name"].rsplit(".", 1)[0].rsplit("_", 1)[0]
        images.append({"id": k + 1, "width": w, "height": h, "file_name": f"{stem}_{k + 1}.tif"})
        for ann in gt.annotations_for(src["id"]):
            polys = []
            for poly in ann["segmentation"]:
                xy = np.asarray(poly, dtype=np.float64).reshape(-1, 2).copy()
                if flip_x:
                    xy[:, 0] = w - xy[:, 0]
                if flip_y:
                    xy[:, 1] = h - xy[:, 1]
                polys.append(xy.ravel().tolist())
            polys = _jitter(polys, rng, jitter_px, w, h)
            new = copy.deepcopy({k2: v for k2, v in ann.items() if k2 not in ("segmentation", "area", "bbox")})
            new.update({"id": len(annotations) + 1, "image_id": k + 1, "segmentation": polys, "iscrowd": 0})
            annotations.append(new)
    _fill_area_and_bbox(images, annotations)
    return CocoDataset(images=images, annotations=annotations)


def _fill_area_and_bbox(images: list[dict], annotations: list[dict]) -> None:
    from pycocotools import mask as mask_utils

    from ..data.geometry import segmentation_rle

    size = {img["id"]: (img["height"], img["width"]) for img in images}
    for ann in annotations:
        h, w = size[ann["image_id"]]
        rle = segmentation_rle(ann["segmentation"], h, w)
        ann["area"] = float(mask_utils.area(rle))
        ann["bbox"] = [float(v) for v in mask_utils.toBbox(rle)]
