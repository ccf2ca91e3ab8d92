"""Compose one synthetic image: banked cells pasted onto a cell-free background.

Every placed cell gets a random mirror and rotation (arbitrary angles, right angles or none) and a
random position; its polygon is transformed with the same map, clipped to the image (Sutherland-
Hodgman) and quantised, and its **footprint is the pycocotools rasterisation of that polygon**. The
footprint is pasted with alpha 1; the margin around it (the halo) is blended with a feathered alpha
capped below 1. So the pixels set entirely by a cell are exactly the pixels its annotation rasterises to.

Overlap is bounded: a placement is rejected when more than ``max_overlap`` of the new cell lies on
cells already there, or when it would hide more than ``max_overlap`` of any earlier cell's footprint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..data.geometry import polygon_area
from .bank import BankCell, CellBank
from .density import Target
from .geometry import clip_to_rectangle, quantize, rasterize_window, rigid_matrix, transform_points, window_of

ROTATIONS: tuple[str, ...] = ("arbitrary", "right_angles", "none")


@dataclass(frozen=True)
class ComposeConfig:
    """``rotation``: arbitrary | right_angles | none; ``flip``: random mirror; ``max_overlap``: fraction
    of a cell that another may cover; ``max_attempts``: consecutive rejected placements before the image
    is declared full; ``halo_alpha``: largest alpha outside the footprint; ``min_pixels``: border-cut
    cells with fewer pixels are not placed; ``flip_background``: random flips of the background."""

    rotation: str = "arbitrary"
    flip: bool = True
    max_overlap: float = 0.15
    max_attempts: int = 40
    halo_alpha: float = 0.9
    min_pixels: int = 8
    flip_background: bool = True

    def __post_init__(self) -> None:
        if self.rotation not in ROTATIONS:
            raise ValueError(f"rotation must be one of {', '.join(ROTATIONS)}, got {self.rotation!r}")
        if not 0.0 <= self.max_overlap < 1.0:
            raise ValueError(f"max_overlap must be in [0, 1), got {self.max_overlap}")
        if not 0.0 <= self.halo_alpha < 1.0:
            raise ValueError(f"halo_alpha must be in [0, 1), got {self.halo_alpha}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")


@dataclass
class PlacedCell:
    """A pasted cell: clipped, quantised ``polygon`` (image x, y), its ``footprint`` (bool) in the window
    whose top-left corner is ``origin`` (x0, y0), and the pixel ``values`` pasted there (float32)."""

    polygon: np.ndarray
    origin: tuple[int, int]
    footprint: np.ndarray
    values: np.ndarray
    source_file: str
    annotation_id: object

    @property
    def area(self) -> float:
        return polygon_area(self.polygon)

    def full_mask(self, height: int, width: int) -> np.ndarray:
        """The footprint placed in a full ``height`` x ``width`` image."""
        out = np.zeros((height, width), dtype=bool)
        x0, y0 = self.origin
        h, w = self.footprint.shape
        out[y0:y0 + h, x0:x0 + w] = self.footprint
        return out


@dataclass
class ComposedImage:
    """The result: ``image`` (uint8), the placed ``cells`` in paste order, the ``target`` asked for, the
    covered fraction reached and whether the target was not met (``shortfall``)."""

    image: np.ndarray
    cells: list[PlacedCell] = field(default_factory=list)
    target: Target = field(default_factory=Target)
    confluence: float = 0.0
    shortfall: bool = False


def _pick_angle(rotation: str, rng: np.random.Generator) -> float:
    if rotation == "arbitrary":
        return float(rng.uniform(0.0, 360.0))
    if rotation == "right_angles":
        return 90.0 * int(rng.integers(0, 4))
    return 0.0


def _free_position(owner: np.ndarray, rng: np.random.Generator, tries: int = 8) -> np.ndarray:
    """A uniform random point, redrawn (up to ``tries`` times) while it falls on a cell already placed."""
    height, width = owner.shape
    for _ in range(tries):
        position = rng.uniform((0.0, 0.0), (float(width), float(height)))
        if owner[min(int(position[1]), height - 1), min(int(position[0]), width - 1)] == 0:
            break
    return position


def _warp(cell: BankCell, matrix: np.ndarray, target: np.ndarray, win: tuple[int, int, int, int]
          ) -> tuple[np.ndarray, np.ndarray]:
    """Sample the cell's pixels and alpha at the output window's pixel centres (bilinear)."""
    x0, y0, x1, y1 = win
    inv = matrix.T  # rotations and mirrors are orthogonal
    offset_xy = inv @ (np.array([x0 + 0.5, y0 + 0.5]) - target) + cell.center - 0.5
    inv_rc = np.array([[inv[1, 1], inv[1, 0]], [inv[0, 1], inv[0, 0]]])
    shape = (y1 - y0, x1 - x0)
    values = ndimage.affine_transform(cell.pixels.astype(np.float32), inv_rc, offset=offset_xy[::-1],
                                      output_shape=shape, order=1, mode="nearest")
    alpha = ndimage.affine_transform(cell.alpha, inv_rc, offset=offset_xy[::-1], output_shape=shape,
                                     order=1, mode="constant", cval=0.0)
    return values, alpha


def compose_image(background: np.ndarray, bank: CellBank, target: Target, rng: np.random.Generator,
                  config: ComposeConfig = ComposeConfig()) -> ComposedImage:
    """Paste cells from ``bank`` onto ``background`` (float H x W) until ``target`` is met.

    Stops early (``shortfall=True``) after ``config.max_attempts`` consecutive rejected placements.
    """
    canvas = np.array(background, dtype=np.float32, copy=True)
    if config.flip_background:
        if rng.random() < 0.5:
            canvas = canvas[::-1]
        if rng.random() < 0.5:
            canvas = canvas[:, ::-1]
        canvas = np.ascontiguousarray(canvas)
    height, width = canvas.shape
    owner = np.zeros((height, width), dtype=np.int32)  # 1-based index of the cell on top, 0 = none
    sizes: list[int] = []
    visible: list[int] = []
    placed: list[PlacedCell] = []
    covered = 0
    failures = 0
    keep_fraction = 1.0 - config.max_overlap
    goal_pixels = None if target.confluence is None else target.confluence * height * width
    while True:
        if target.count is not None and len(placed) >= target.count:
            break
        if goal_pixels is not None and covered >= goal_pixels:
            break
        if failures >= config.max_attempts:
            break
        failures += 1
        cell = bank.cells[int(rng.integers(0, len(bank.cells)))]
        matrix = rigid_matrix(_pick_angle(config.rotation, rng), config.flip and bool(rng.random() < 0.5))
        position = _free_position(owner, rng)
        poly = clip_to_rectangle(transform_points(cell.polygon, matrix, cell.center, position), width, height)
        if len(poly) < 3:
            continue
        poly = quantize(poly, width, height)
        if len(poly) < 3:
            continue
        fx0, fy0, fx1, fy1 = window_of(poly, width, height)
        footprint = rasterize_window(poly, fx0, fy0, fx1 - fx0, fy1 - fy0)
        n_pixels = int(footprint.sum())
        if n_pixels < config.min_pixels:
            continue
        under = owner[fy0:fy1, fx0:fx1][footprint]
        under = under[under > 0]
        if under.size:
            if under.size > config.max_overlap * n_pixels:
                continue
            ids, counts = np.unique(under, return_counts=True)
            if any(visible[i - 1] - c < keep_fraction * sizes[i - 1] for i, c in zip(ids.tolist(), counts.tolist())):
                continue
            for i, c in zip(ids.tolist(), counts.tolist()):
                visible[i - 1] -= c
        failures = 0
        corners = np.array([[0, 0], [cell.pixels.shape[1], 0], [0, cell.pixels.shape[0]],
                            [cell.pixels.shape[1], cell.pixels.shape[0]]], dtype=np.float64)
        px0, py0, px1, py1 = window_of(transform_points(corners, matrix, cell.center, position), width, height, pad=0)
        win = (min(px0, fx0), min(py0, fy0), max(px1, fx1), max(py1, fy1))
        values, alpha = _warp(cell, matrix, position, win)
        np.minimum(alpha, config.halo_alpha, out=alpha)
        sy, sx = fy0 - win[1], fx0 - win[0]
        fp_view = alpha[sy:sy + footprint.shape[0], sx:sx + footprint.shape[1]]
        fp_view[footprint] = 1.0
        region = canvas[win[1]:win[3], win[0]:win[2]]
        region += alpha * (values - region)
        region[sy:sy + footprint.shape[0], sx:sx + footprint.shape[1]][footprint] = values[
            sy:sy + footprint.shape[0], sx:sx + footprint.shape[1]][footprint]
        owner[fy0:fy1, fx0:fx1][footprint] = len(placed) + 1
        covered += n_pixels - int(under.size)
        sizes.append(n_pixels)
        visible.append(n_pixels)
        placed.append(PlacedCell(poly, (fx0, fy0), footprint,
                                 values[sy:sy + footprint.shape[0], sx:sx + footprint.shape[1]].copy(),
                                 cell.source_file, cell.annotation_id))
    shortfall = ((target.count is not None and len(placed) < target.count)
                 or (goal_pixels is not None and covered < goal_pixels))
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return ComposedImage(image, placed, target, covered / float(height * width), shortfall)
