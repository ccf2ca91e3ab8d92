"""Classical cell segmentation: texture threshold + distance-transform watershed (no learning).

Phase-contrast cells are not simply darker than the background (median 128); what sets them apart is
texture and the halo at their borders. So the foreground is where the local standard deviation exceeds
a multiple of the background's, cleaned by morphology and hole filling; touching cells are split by a
watershed on the smoothed distance transform seeded at its local maxima, spaced by the expected cell
diameter of the line. Each object's score in (0, 1] rewards a convex outline and a plausible size.
This is the floor every learned model in the project must beat.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from scipy import ndimage as ndi

from .celltypes import canonical_cell_type

#: Typical cell diameter (px) per line: from the annotated real sample for BT474, Huh7 and MCF7
#: (sqrt(4 * median area / pi)), from the lines' appearance for the others (docs/demo-data.md).
CELL_DIAMETER: dict[str, float] = {
    "A172": 36.0, "BT474": 23.0, "BV2": 15.0, "Huh7": 33.0, "MCF7": 17.5, "SHSY5Y": 18.0,
    "SkBr3": 20.0, "SKOV3": 33.0,
}


@dataclass(frozen=True)
class BaselineParams:
    """Settings of :func:`segment_classical`; ``cell_diameter`` None = the line's default (or 22 px)."""

    texture_window: int = 3          #: side of the local standard-deviation window (px)
    texture_factor: float = 3.5      #: foreground = local std > factor x the background noise estimate
    intensity_sigmas: float = 4.0    #: ... or |intensity - median| > this many background sigmas
    closing_radius: int = 0          #: morphological closing that bridges gaps in the texture mask
    opening_radius: int = 1          #: opening that removes thin noise
    min_area: int = 30               #: smallest object kept (px)
    cell_diameter: float | None = None
    smooth_sigma: float = 1.5        #: smoothing of the distance transform before peak finding
    seed_spacing: float = 0.35       #: minimum seed distance as a fraction of the cell diameter
    border_sigmas: float = 3.0       #: pixels this many background sigmas above the median (halos and
                                     #: the bright lines between touching cells) are cut before seeding


def _disk(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return xx * xx + yy * yy <= radius * radius


def foreground_mask(image: np.ndarray, params: BaselineParams) -> np.ndarray:
    """Cell pixels: strong local texture or strong deviation from the median, cleaned and hole-filled.

    The background's texture level is the 5th percentile of the local standard deviation (about 0.6
    of the noise sigma for a small window), which stays a background estimate even when cells cover most
    of the image. The texture window widens objects by half its side, so the mask is eroded by that.
    """
    x = image.astype(np.float32)
    w = params.texture_window
    mean = ndi.uniform_filter(x, w)
    std = np.sqrt(np.maximum(ndi.uniform_filter(x * x, w) - mean * mean, 0.0))
    bg_std = max(float(np.percentile(std, 5)) / 0.6, 0.5)
    med = float(np.median(x))
    fg = (std > params.texture_factor * bg_std) | (np.abs(x - med) > params.intensity_sigmas * bg_std)
    if params.closing_radius > 0:
        fg = ndi.binary_closing(fg, _disk(params.closing_radius), border_value=0)
    fg = ndi.binary_fill_holes(fg)
    if w // 2 > 0:
        fg = ndi.binary_erosion(fg, _disk(w // 2), border_value=1)
    if params.opening_radius > 0:
        fg = ndi.binary_opening(fg, _disk(params.opening_radius))
    return fg


def bright_borders(image: np.ndarray, params: BaselineParams) -> np.ndarray:
    """Bright halo pixels (lightly smoothed intensity well above the median): phase contrast draws them
    along cell borders, including between touching cells."""
    x = ndi.gaussian_filter(image.astype(np.float32), 0.7)
    med = float(np.median(x))
    sigma = 1.4826 * float(np.median(np.abs(x - med)))
    return x > med + params.border_sigmas * max(sigma, 0.5)


def split_touching(fg: np.ndarray, diameter: float, params: BaselineParams,
                   borders: np.ndarray | None = None) -> np.ndarray:
    """Watershed of the smoothed distance transform, one seed per local maximum spaced by the diameter.

    The distance is measured to the background or to a bright border (when given), so two cells that
    touch along a bright line get two seeds.
    """
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    core = fg if borders is None else fg & ~borders
    dist = ndi.distance_transform_edt(core)
    smooth = ndi.gaussian_filter(dist, params.smooth_sigma)
    components, _ = ndi.label(fg)
    spacing = max(2, int(round(params.seed_spacing * diameter)))
    peaks = peak_local_max(smooth, min_distance=spacing, threshold_abs=1.0, labels=components,
                           exclude_border=False)
    markers = np.zeros(fg.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
    labels = watershed(-smooth, markers, mask=fg)
    # components without any seed (thin or tiny) keep their own label
    unseeded = fg & (labels == 0)
    if unseeded.any():
        extra, _ = ndi.label(unseeded)
        labels = np.where(unseeded, extra + labels.max(), labels)
    return labels.astype(np.int32)


def _relabel_and_score(labels: np.ndarray, diameter: float, min_area: int) -> tuple[np.ndarray, np.ndarray]:
    from skimage.measure import regionprops

    out = np.zeros(labels.shape, np.int32)
    scores = []
    expected = np.pi * (diameter / 2.0) ** 2
    for region in regionprops(labels):
        if region.area < min_area:
            continue
        size_fit = float(np.exp(-0.5 * (np.log(region.area / expected) / 1.0) ** 2))
        score = float(np.clip(region.solidity * (0.3 + 0.7 * size_fit), 1e-3, 1.0))
        scores.append(score)
        r0, c0, r1, c1 = region.bbox
        out[r0:r1, c0:c1][region.image] = len(scores)
    return out, np.asarray(scores, np.float32)


def segment_classical(image: np.ndarray, cell_type: str | None = None,
                      params: BaselineParams | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Segment one uint8 phase-contrast image.

    Returns ``(labels, scores)``: int32 H x W label image (0 = background, objects 1..N) and float32
    scores of length N (``scores[k - 1]`` belongs to label k), each in (0, 1].
    """
    img = np.asarray(image)
    if img.ndim != 2 or img.dtype != np.uint8:
        raise ValueError(f"segment_classical expects a uint8 H x W image, got {img.dtype} {img.shape}")
    params = params or BaselineParams()
    diameter = params.cell_diameter
    if diameter is None:
        diameter = CELL_DIAMETER.get(canonical_cell_type(cell_type), 22.0) if cell_type else 22.0
    fg = foreground_mask(img, params)
    labels = split_touching(fg, diameter, params, bright_borders(img, params) if params.border_sigmas > 0 else None)
    return _relabel_and_score(labels, diameter, params.min_area)


def labels_to_results(image_id, labels: np.ndarray, scores: np.ndarray, *, chunk: int = 64) -> list[dict]:
    """COCO result records (RLE) for a label image, encoded in chunks to bound memory."""
    from .eval.predictions import masks_to_results

    results: list[dict] = []
    n = int(labels.max(initial=0))
    for start in range(1, n + 1, chunk):
        ids = np.arange(start, min(start + chunk, n + 1))
        masks = labels[None, :, :] == ids[:, None, None]
        results.extend(masks_to_results(image_id, masks, scores[ids - 1]))
    return results


def classical_predictor(params: BaselineParams | None = None):
    """A predictor for :func:`cellseg_nb.train.inference.predict_images`: the source's cell type (from
    its file name) picks the expected diameter unless ``params`` sets one; masks at box resolution."""
    from .models.instances import BoxMasks

    def predict(image: np.ndarray, source) -> tuple[BoxMasks, np.ndarray]:
        labels, scores = segment_classical(image, source.cell_type, params)
        return BoxMasks.from_labels(labels), scores

    return predict


def segment_dataset(dataset, image_root: str | Path, params: BaselineParams | None = None,
                    image_ids: Iterable | None = None, progress: bool = False) -> list[dict]:
    """COCO results for every image of a :class:`~cellseg_nb.data.coco.CocoDataset` (or ``image_ids``),
    through the package's one prediction loop (:func:`cellseg_nb.train.inference.predict_images`).

    Images are found under ``image_root`` (nested or flat layout); each image's cell type (from its
    file name) picks the expected cell diameter unless ``params`` sets one.
    """
    from .train.inference import predict_images, read_source
    from .train.predict import coco_sources

    gt = dataset if image_ids is None else dataset.subset(list(image_ids))
    return predict_images(coco_sources(gt, image_root), classical_predictor(params),
                          read=lambda source: read_source(source, convert=False), progress=progress,
                          desc="classical baseline").records
