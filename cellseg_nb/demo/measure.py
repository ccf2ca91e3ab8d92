"""Measure phase-contrast images and their annotations the same way for real and generated data.

The demo generator's per-type numbers (``morphology.py``) were tuned against these measurements on the
real LIVECell sample (``benchmarks/measure_real_sample.py``), and ``docs/demo-data.md`` compares both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ..data.coco import CocoDataset
from ..data.geometry import annotation_rle, polygon_shape

#: Window of the local standard deviation used for background and foreground estimates.
TEXTURE_WINDOW = 7


def local_std(image: np.ndarray, size: int = TEXTURE_WINDOW) -> np.ndarray:
    """Standard deviation of intensity in a ``size`` x ``size`` window around each pixel."""
    x = image.astype(np.float32)
    mean = ndi.uniform_filter(x, size)
    mean_sq = ndi.uniform_filter(x * x, size)
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))


def image_statistics(image: np.ndarray) -> dict[str, float]:
    """Intensity and texture statistics of one uint8 phase-contrast image.

    ``background_*`` use the third of pixels with the least local variation; ``foreground_fraction`` is
    the share of pixels whose local standard deviation exceeds 2.5x the background's median local std
    (a crude cell-cover estimate that needs no annotation); ``halo_fraction`` the share brighter than
    median + 3 background sigmas, ``dark_fraction`` the share darker than median - 3 sigmas.
    """
    x = image.astype(np.float32)
    sd = local_std(image)
    calm = sd <= np.quantile(sd, 1 / 3)
    bg_level = float(np.median(x[calm]))
    # noise: residual of the calm pixels after removing a smooth background
    smooth = ndi.gaussian_filter(x, 2.0)
    bg_noise = float(np.std((x - smooth)[calm]))
    bg_texture = float(np.median(sd[calm]))
    med = float(np.median(x))
    sigma = max(float(np.std(x[calm])), 1.0)
    # slow gradient: spread of a heavily smoothed background estimate over the image
    coarse = ndi.median_filter(x[::8, ::8], size=9)
    return {
        "median": med,
        "p01": float(np.percentile(x, 1)),
        "p99": float(np.percentile(x, 99)),
        "std": float(x.std()),
        "background_level": bg_level,
        "background_noise": bg_noise,
        "background_local_std": bg_texture,
        "illumination_range": float(np.percentile(coarse, 95) - np.percentile(coarse, 5)),
        "foreground_fraction": float(np.mean(sd > 2.5 * bg_texture)),
        "halo_fraction": float(np.mean(x > med + 3 * sigma)),
        "dark_fraction": float(np.mean(x < med - 3 * sigma)),
    }


def cell_statistics(ds: CocoDataset) -> list[dict[str, Any]]:
    """One row per annotated image: cell type, count, density, coverage, overlap and per-cell shape lists."""
    from pycocotools import mask as mask_utils

    rows = []
    for img in ds.images:
        anns = ds.annotations_for(img["id"])
        h, w = int(img["height"]), int(img["width"])
        areas, elong, solid = [], [], []
        cover = np.zeros((h, w), np.uint8)
        overlapping = 0
        masks = []
        for ann in anns:
            shape = polygon_shape(ann["segmentation"][0])
            areas.append(shape.area)
            elong.append(shape.elongation)
            solid.append(shape.solidity)
            m = mask_utils.decode(annotation_rle(ann, h, w))
            masks.append(m)
            cover += m
        for m in masks:
            if np.any(cover[m > 0] > 1):
                overlapping += 1
        rows.append({
            "cell_type": ds.cell_type(img["id"]),
            "file_name": img["file_name"],
            "elapsed_hours": ds.meta(img["id"]).elapsed_hours,
            "cells": len(anns),
            "cells_per_1e4_px": len(anns) / (h * w) * 1e4,
            "covered_fraction": float(np.mean(cover > 0)),
            "overlapping_fraction": overlapping / max(len(anns), 1),
            "areas": areas,
            "elongations": elong,
            "solidities": solid,
        })
    return rows


def summarize_by_type(image_rows: list[dict], cell_rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per-cell-type medians/means of :func:`image_statistics` rows and pooled :func:`cell_statistics`."""
    out: dict[str, dict[str, float]] = {}
    types = list(dict.fromkeys([r["cell_type"] for r in image_rows] + [r["cell_type"] for r in cell_rows]))
    for ct in types:
        entry: dict[str, float] = {}
        imgs = [r for r in image_rows if r["cell_type"] == ct]
        if imgs:
            entry["images"] = len(imgs)
            for key in ("median", "p01", "p99", "std", "background_level", "background_noise",
                        "background_local_std", "illumination_range", "foreground_fraction",
                        "halo_fraction", "dark_fraction"):
                entry[key] = round(float(np.mean([r[key] for r in imgs])), 4)
        cells = [r for r in cell_rows if r["cell_type"] == ct]
        if cells:
            areas = np.concatenate([r["areas"] for r in cells])
            elong = np.concatenate([r["elongations"] for r in cells])
            elong = elong[np.isfinite(elong)]
            solid = np.concatenate([r["solidities"] for r in cells])
            entry.update({
                "annotated_images": len(cells),
                "cells_per_image": round(float(np.mean([r["cells"] for r in cells])), 1),
                "cells_per_1e4_px": round(float(np.mean([r["cells_per_1e4_px"] for r in cells])), 3),
                "covered_fraction": round(float(np.mean([r["covered_fraction"] for r in cells])), 3),
                "overlapping_fraction": round(float(np.mean([r["overlapping_fraction"] for r in cells])), 3),
                "area_median": round(float(np.median(areas)), 1),
                "area_p10": round(float(np.percentile(areas, 10)), 1),
                "area_p90": round(float(np.percentile(areas, 90)), 1),
                "elongation_median": round(float(np.median(elong)), 3),
                "solidity_median": round(float(np.median(solid)), 3),
            })
        out[ct] = entry
    return out


def boundary_statistics(ds: CocoDataset, image_root) -> list[dict[str, Any]]:
    """Per image: intensity (minus 128) of cell interiors (eroded 3 px), of the 3 px band inside the
    outlines and of the 3 px ring outside, and the interior's standard deviation (texture).

    On the real sample the band inside the outline is the bright one: LIVECell outlines enclose the halo.
    """
    from pycocotools import mask as mask_utils

    from ..data.images import read_image
    from ..data.layout import ImageLocator

    locator = ImageLocator(image_root)
    rows = []
    for img in ds.images:
        anns = ds.annotations_for(img["id"])
        if not anns:
            continue
        h, w = int(img["height"]), int(img["width"])
        x = read_image(locator.resolve(img["file_name"])).astype(np.float32)
        cells = mask_utils.decode([mask_utils.frPyObjects(a["segmentation"], h, w)[0] for a in anns]).any(axis=2)
        core = ndi.binary_erosion(cells, iterations=3)
        band = cells & ~core
        ring = ndi.binary_dilation(cells, iterations=3) & ~cells
        rows.append({
            "cell_type": ds.cell_type(img["id"]),
            "interior_offset": float(x[core].mean() - 128) if core.any() else float("nan"),
            "interior_std": float(x[core].std()) if core.any() else float("nan"),
            "inner_band_offset": float(x[band].mean() - 128),
            "outer_ring_offset": float(x[ring].mean() - 128),
        })
    return rows
