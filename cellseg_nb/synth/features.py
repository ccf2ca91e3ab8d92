"""Per-image features that show how a synthetic set differs from the real one.

Intensity statistics, texture (gradient statistics, Laplacian energy and GLCM properties), and cell
statistics from the annotations: count, confluence (covered fraction), overlap, cell area and shape
(circularity, elongation). One row per image, with its file name, cell type and whether it is synthetic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import ndimage, stats
from skimage.feature import graycomatrix, graycoprops

from ..celltypes import parse_file_name
from ..data.coco import CocoDataset, load_coco
from ..data.images import read_image
from ..data.geometry import polygon_shape
from ..data.layout import ImageLocator
from .geometry import rasterize_full

#: Feature columns, in table order.
FEATURES: tuple[str, ...] = (
    "intensity_std", "intensity_p01", "intensity_p05", "intensity_p95", "intensity_p99", "intensity_skew",
    "intensity_kurtosis", "gradient_mean", "gradient_std", "gradient_p90", "laplacian_energy",
    "glcm_contrast", "glcm_homogeneity", "glcm_energy", "glcm_correlation",
    "cell_count", "confluence", "overlap", "area_mean", "area_std", "log_area_mean",
    "circularity_mean", "elongation_mean",
)

#: Feature groups, so a distance can say WHAT drifts: pixels, texture, density, or the cells themselves (size, shape, overlap).
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "intensity": ("intensity_std", "intensity_p01", "intensity_p05", "intensity_p95", "intensity_p99",
                  "intensity_skew", "intensity_kurtosis"),
    "texture": ("gradient_mean", "gradient_std", "gradient_p90", "laplacian_energy", "glcm_contrast",
                "glcm_homogeneity", "glcm_energy", "glcm_correlation"),
    "density": ("cell_count", "confluence"),
    "cells": ("overlap", "area_mean", "area_std", "log_area_mean", "circularity_mean", "elongation_mean"),
}


def _mean_finite(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else 0.0


def image_features(image: np.ndarray, polygons: list[list[float]]) -> dict[str, float]:
    """Features of one uint8 image and its cell polygons (COCO flat lists, image coordinates)."""
    img = image.astype(np.float32)
    flat = img.ravel()
    p01, p05, p95, p99 = np.percentile(flat, [1, 5, 95, 99])
    gx = ndimage.sobel(img, axis=1)
    gy = ndimage.sobel(img, axis=0)
    grad = np.hypot(gx, gy)
    lap = ndimage.laplace(img)
    levels = 32
    quant = np.clip((img - 64.0) / 4.0, 0, levels - 1).astype(np.uint8)  # 64..192 in 32 bins (median is 128)
    glcm = graycomatrix(quant[::2, ::2], distances=[1, 3], angles=[0.0, np.pi / 2], levels=levels,
                        symmetric=True, normed=True)
    h, w = image.shape
    shapes = [polygon_shape(p) for p in polygons]
    areas = np.array([s.area for s in shapes]) if shapes else np.zeros(0)
    union = int(rasterize_full(polygons, w, h).sum()) if polygons else 0
    return {
        "intensity_std": float(flat.std()),
        "intensity_p01": float(p01), "intensity_p05": float(p05),
        "intensity_p95": float(p95), "intensity_p99": float(p99),
        "intensity_skew": float(stats.skew(flat)),
        "intensity_kurtosis": float(stats.kurtosis(flat)),
        "gradient_mean": float(grad.mean()), "gradient_std": float(grad.std()),
        "gradient_p90": float(np.percentile(grad, 90)),
        "laplacian_energy": float(np.mean(lap ** 2)),
        "glcm_contrast": float(graycoprops(glcm, "contrast").mean()),
        "glcm_homogeneity": float(graycoprops(glcm, "homogeneity").mean()),
        "glcm_energy": float(graycoprops(glcm, "energy").mean()),
        "glcm_correlation": float(np.nan_to_num(graycoprops(glcm, "correlation")).mean()),
        "cell_count": float(len(polygons)),
        "confluence": union / float(h * w),
        "overlap": float(areas.sum() / union - 1.0) if union else 0.0,
        "area_mean": float(areas.mean()) if areas.size else 0.0,
        "area_std": float(areas.std()) if areas.size else 0.0,
        "log_area_mean": float(np.log(np.maximum(areas, 1.0)).mean()) if areas.size else 0.0,
        "circularity_mean": float(np.mean([s.circularity for s in shapes])) if shapes else 0.0,
        "elongation_mean": _mean_finite([s.elongation for s in shapes]),
    }


def dataset_features(annotations: str | Path | CocoDataset, images: str | Path, *,
                     cell_types: Iterable[str] | None = None) -> pd.DataFrame:
    """One feature row per image of a COCO dataset (columns ``file_name``, ``cell_type``, ``synthetic``
    and :data:`FEATURES`). Repeated file names are measured once."""
    dataset = annotations if isinstance(annotations, CocoDataset) else load_coco(annotations)
    if cell_types is not None:
        dataset = dataset.filter_cell_types(cell_types)
    locator = ImageLocator(images)
    rows = []
    seen: set[str] = set()
    for image_id in dataset.image_ids:
        rec = dataset.image(image_id)
        if rec["file_name"] in seen:
            continue
        seen.add(rec["file_name"])
        meta = parse_file_name(rec["file_name"])
        path = locator.resolve(rec["file_name"], record=f"image id={image_id!r}", annotations=dataset.path)
        image = read_image(path, expected_size=(rec["width"], rec["height"]))
        polys = [max(a["segmentation"], key=len) for a in dataset.annotations_for(image_id)
                 if isinstance(a["segmentation"], list)]
        row = {"file_name": rec["file_name"], "cell_type": meta.cell_type, "synthetic": meta.synthetic}
        row.update(image_features(image, polys))
        rows.append(row)
    return pd.DataFrame(rows, columns=["file_name", "cell_type", "synthetic", *FEATURES])
