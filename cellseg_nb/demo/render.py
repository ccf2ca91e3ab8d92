"""Render placed cells as a phase-contrast image (uint8, median exactly 128).

Model: each cell has an optical thickness map (rising from its outline inwards, steeper for rounded
cells). Phase contrast shows roughly a high-pass of that phase: a bright halo just outside the border,
a dark rim just inside, a darker and granular interior and a darker nucleus. The background is flat
(about 128 after the median shift) with a slow illumination gradient, fine texture, sensor noise and a
little bright debris, all at the levels measured on the real sample (docs/demo-data.md).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .morphology import Morphology
from .scene import Cell

#: Background noise (grey levels, residual after a 2 px Gaussian) measured per line on the real sample.
BACKGROUND_NOISE: dict[str, float] = {
    "A172": 1.5, "BT474": 1.0, "BV2": 0.96, "Huh7": 0.94, "MCF7": 1.17, "SHSY5Y": 1.18,
    "SkBr3": 0.91, "SKOV3": 1.08,
}
#: Peak-to-peak slow illumination variation (grey levels); the sample's spread is 1 to 2.
ILLUMINATION_RANGE = 1.5
TARGET_MEDIAN = 128


def thickness_map(body: np.ndarray, borders: np.ndarray, morph: Morphology) -> np.ndarray:
    """Optical thickness 1 - exp(-d / d0), d = distance to the nearest outline (cell edge or the border
    with a neighbour), d0 a fraction of the line's typical half-width (larger for rounded cells)."""
    # chessboard distance: 4x faster than the exact Euclidean one and indistinguishable once blurred
    dist = ndi.distance_transform_cdt(body & ~borders.astype(bool), metric="chessboard").astype(np.float32)
    half_width = np.sqrt(morph.area_median / np.pi) / np.sqrt(morph.elongation)
    d0 = max(1.0, half_width * (0.25 + 0.6 * morph.roundness))
    return np.where(body, 1.0 - np.exp(-dist / d0), 0.0).astype(np.float32)


def coverage_map(cells: list[Cell], shape: tuple[int, int]) -> np.ndarray:
    """How many cells cover each pixel (float32)."""
    cover = np.zeros(shape, np.float32)
    for cell in cells:
        h, w = cell.mask.shape
        cover[cell.y0:cell.y0 + h, cell.x0:cell.x0 + w] += cell.mask
    return cover


def label_image(cells: list[Cell], shape: tuple[int, int]) -> np.ndarray:
    """Cells painted in order (later ones on top): int32 label image, 0 = background."""
    labels = np.zeros(shape, np.int32)
    for k, cell in enumerate(cells, start=1):
        h, w = cell.mask.shape
        window = labels[cell.y0:cell.y0 + h, cell.x0:cell.x0 + w]
        window[cell.mask] = k
    return labels


def internal_borders(labels: np.ndarray) -> np.ndarray:
    """1 where two touching cells meet (the label changes between two cells), else 0 (float32).

    In phase contrast the membrane pair between neighbours shows as a thin line, so a sheet of cells
    is not one uniform blob.
    """
    border = np.zeros(labels.shape, bool)
    vert = (labels[1:, :] != labels[:-1, :]) & (labels[1:, :] > 0) & (labels[:-1, :] > 0)
    horiz = (labels[:, 1:] != labels[:, :-1]) & (labels[:, 1:] > 0) & (labels[:, :-1] > 0)
    border[1:, :] |= vert
    border[:-1, :] |= vert
    border[:, 1:] |= horiz
    border[:, :-1] |= horiz
    return border.astype(np.float32)


def nucleus_map(cells: list[Cell], morph: Morphology, shape: tuple[int, int]) -> np.ndarray:
    """Soft nuclei: a Gaussian blob at each cell's centroid, about 40% of the median cell radius."""
    points = np.zeros(shape, np.float32)
    for cell in cells:
        cx, cy = cell.polygon.mean(axis=0)  # vertex mean: inside these star-shaped outlines
        points[min(int(cy), shape[0] - 1), min(int(cx), shape[1] - 1)] += 1.0
    sigma = 0.4 * np.sqrt(morph.area_median / np.pi)
    blobs = ndi.gaussian_filter(points, sigma, truncate=3.0)
    return blobs * (2 * np.pi * sigma * sigma)  # peak ~1 per nucleus


def background(cell_type: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Flat background: slow illumination gradient + fine texture + noise (zero mean)."""
    h, w = shape
    yy = (np.arange(h, dtype=np.float32) / h - 0.5)[:, None]
    xx = (np.arange(w, dtype=np.float32) / w - 0.5)[None, :]
    coef = rng.standard_normal(5)
    grad = coef[0] * xx + coef[1] * yy + coef[2] * xx * yy + coef[3] * xx ** 2 + coef[4] * yy ** 2
    grad *= ILLUMINATION_RANGE / max(float(np.ptp(grad)), 1e-6)
    noise_level = BACKGROUND_NOISE.get(cell_type, 1.0)
    fine = ndi.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), 0.8, truncate=3.0)
    fine *= 0.6 * noise_level / max(float(fine.std()), 1e-6)
    white = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.9 * noise_level)
    return grad + fine + white


def debris(shape: tuple[int, int], rng: np.random.Generator, count: int) -> np.ndarray:
    """Small bright particles with dark centres, as floating debris looks in phase contrast."""
    yy, xx = np.mgrid[-5:6, -5:6]
    r2 = (xx * xx + yy * yy).astype(np.float32)
    kernel = (np.exp(-r2 / (2 * 1.6 ** 2)) / (2 * np.pi * 1.6 ** 2)
              - np.exp(-r2 / (2 * 0.8 ** 2)) / (2 * np.pi * 0.8 ** 2)).astype(np.float32)
    out = np.zeros((shape[0] + 10, shape[1] + 10), np.float32)
    ys = rng.integers(0, shape[0], count)
    xs = rng.integers(0, shape[1], count)
    for y, x, weight in zip(ys, xs, rng.uniform(20, 60, count)):
        out[y:y + 11, x:x + 11] += np.float32(weight) * kernel
    return out[5:-5, 5:-5]


def _median_uint8(image: np.ndarray) -> float:
    """Exact median of a uint8 array from its histogram (much faster than a partition)."""
    counts = np.cumsum(np.bincount(image.reshape(-1), minlength=256))
    n = image.size
    lower = int(np.searchsorted(counts, (n - 1) // 2 + 1))
    upper = int(np.searchsorted(counts, n // 2 + 1))
    return (lower + upper) / 2.0


def to_uint8_median(image: np.ndarray, target: int = TARGET_MEDIAN) -> np.ndarray:
    """Round to uint8 with the median shifted to exactly ``target`` (as in every LIVECell image).

    The float image is shifted by its (subsampled) median, rounded, then corrected by whole grey levels
    until the exact median is ``target``; when the median falls between two levels, the one boundary
    pixel that splits them is set to ``target``.
    """
    image = np.asarray(image, dtype=np.float32)
    approx = float(np.median(image[::3, ::3])) if image.size > 10000 else float(np.median(image))
    out = np.clip(np.rint(image - approx + target), 0, 255).astype(np.uint8)
    for _ in range(8):
        med = _median_uint8(out)
        if med == target:
            break
        shift = int(np.floor(target - med)) if med < target else int(np.ceil(target - med))
        if shift != 0:
            out = np.clip(out.astype(np.int16) + shift, 0, 255).astype(np.uint8)
            continue
        half = out.size // 2
        order = np.argsort(out, axis=None, kind="stable")
        flat = out.reshape(-1)
        if med < target:
            flat[order[half - 1]] = target
        else:
            flat[order[half]] = target
    return out


def render_phase_contrast(cells: list[Cell], morph: Morphology, cell_type: str, shape: tuple[int, int],
                          rng: np.random.Generator) -> np.ndarray:
    """The uint8 phase-contrast image of ``cells`` (H x W), median exactly 128."""
    cover = np.minimum(coverage_map(cells, shape), 2.0)
    body = np.minimum(cover, 1.0)
    borders = internal_borders(label_image(cells, shape))
    inside = thickness_map(body > 0, borders, morph)
    nuclei = nucleus_map(cells, morph, shape) * body
    grain = ndi.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), 0.8, truncate=3.0)
    grain /= max(float(grain.std()), 1e-6)
    # granules: sparse dark (and fewer bright) dots on a fine grain, densest around the nucleus
    granules = 0.5 * grain + 1.6 * np.minimum(grain + 1.0, 0.0) + 1.2 * np.maximum(grain - 1.8, 0.0)
    granular = body * (0.5 + 0.5 * np.minimum(1.6 * nuclei, 1.0)) * (0.5 + 0.5 * np.minimum(inside, 1.0))
    # LIVECell outlines enclose the bright halo: a bright band just inside the polygon, little outside
    band = np.maximum(body - ndi.gaussian_filter(body, morph.halo_sigma, truncate=3.0), 0.0)
    glow = np.maximum(ndi.gaussian_filter(body, 2.0 * morph.halo_sigma, truncate=3.0) - body, 0.0)
    phase = (
        -morph.darkness * inside
        - morph.darkness * np.maximum(cover - 1.0, 0.0)
        - 0.6 * morph.darkness * np.minimum(nuclei, 1.0)
        + morph.texture * granular * granules
        + morph.halo * (0.22 * band + 0.04 * glow)
        + 0.15 * morph.halo * ndi.gaussian_filter(borders, 0.6, truncate=3.0)
    )
    image = background(cell_type, shape, rng) + phase + debris(shape, rng, int(rng.integers(5, 30)))
    return to_uint8_median(image)
