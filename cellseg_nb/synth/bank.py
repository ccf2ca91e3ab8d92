"""Per-cell-type bank of cells cut from annotated source images.

Each :class:`BankCell` keeps the cell's pixels plus a small margin (so the bright phase-contrast halo
travels with the cell), its polygon in patch coordinates and a feathered alpha map: 1 inside the
polygon, falling linearly to 0 across the margin. Cells touching the image border (cut by it) or
closer to it than the margin are left out, so every banked cell is whole.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
from scipy import ndimage

from ..data.coco import CocoDataset
from ..data.geometry import polygon_area
from ..data.images import read_image
from ..data.layout import ImageLocator
from ..errors import DataError
from .geometry import rasterize_window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BankConfig:
    """How cells are cut out.

    ``margin``: pixels kept around the polygon (the halo); ``min_area``: smaller cells are skipped;
    ``max_cells``: per-type cap (a random subset is kept, so memory stays bounded on full LIVECell);
    ``min_cells``: fewer usable cells than this for a type is an error.
    """

    margin: int = 4
    min_area: float = 12.0
    max_cells: int = 20000
    min_cells: int = 5

    def __post_init__(self) -> None:
        if self.margin < 1:
            raise ValueError(f"BankConfig.margin must be at least 1 px, got {self.margin}")
        if self.min_cells < 1 or self.max_cells < self.min_cells:
            raise ValueError(f"BankConfig needs 1 <= min_cells <= max_cells, got {self.min_cells}, {self.max_cells}")


@dataclass
class BankCell:
    """One cut-out cell: ``pixels`` (uint8 h x w), ``alpha`` (float32 h x w, 1 inside, feathered outside),
    ``polygon`` ((N, 2) x, y in patch coordinates), ``area`` (polygon area) and where it came from."""

    pixels: np.ndarray
    alpha: np.ndarray
    polygon: np.ndarray
    area: float
    source_file: str
    annotation_id: object

    @property
    def center(self) -> np.ndarray:
        """Rotation centre: the middle of the patch (x, y)."""
        return np.array([self.pixels.shape[1] / 2.0, self.pixels.shape[0] / 2.0])


@dataclass
class CellBank:
    """The banked cells of one cell type and the real per-image cell counts and confluences."""

    cell_type: str
    cells: list[BankCell] = field(default_factory=list)
    image_counts: list[int] = field(default_factory=list)
    image_confluences: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.cells)

    @property
    def mean_area(self) -> float:
        return float(np.mean([c.area for c in self.cells])) if self.cells else 0.0


def feathered_alpha(inside: np.ndarray, margin: int) -> np.ndarray:
    """Alpha = 1 on ``inside``, ``1 - d / (margin + 1)`` at distance d px outside, 0 beyond the margin."""
    if inside.all():
        return np.ones(inside.shape, np.float32)
    dist = ndimage.distance_transform_edt(~inside)
    return np.clip(1.0 - dist / (margin + 1.0), 0.0, 1.0).astype(np.float32)


def cut_cell(image: np.ndarray, polygon: np.ndarray, margin: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Cut the patch around ``polygon`` (x, y image coordinates) with ``margin`` px on every side.

    Returns (pixels, alpha, polygon in patch coordinates), or None when the cell lies closer to the
    image border than the margin (it may be cut by the border, and its halo would be incomplete).
    """
    h, w = image.shape
    x0 = int(np.floor(polygon[:, 0].min())) - margin
    y0 = int(np.floor(polygon[:, 1].min())) - margin
    x1 = int(np.ceil(polygon[:, 0].max())) + margin + 1
    y1 = int(np.ceil(polygon[:, 1].max())) + margin + 1
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
        return None
    local = polygon - np.array([x0, y0], dtype=np.float64)
    inside = rasterize_window(local, 0, 0, x1 - x0, y1 - y0)
    if not inside.any():
        return None
    return image[y0:y1, x0:x1].copy(), feathered_alpha(inside, margin), local


def _polygon_of(ann: dict) -> np.ndarray | None:
    seg = ann["segmentation"]
    if not isinstance(seg, list) or not seg:
        return None  # RLE cells carry no polygon to transform
    poly = max(seg, key=len)
    return np.asarray(poly, dtype=np.float64).reshape(-1, 2)


def build_cell_bank(dataset: CocoDataset, locator: ImageLocator, cell_type: str, *,
                    config: BankConfig = BankConfig(), rng: np.random.Generator,
                    image_ids: Iterable | None = None) -> CellBank:
    """Cut every usable cell of ``cell_type`` out of its source images.

    Raises :class:`DataError` naming the type and the numbers when the type has no images, no annotated
    cells, or fewer than ``config.min_cells`` usable (whole, large enough) cells.
    """
    ids = [i for i in (dataset.image_ids if image_ids is None else image_ids) if dataset.cell_type(i) == cell_type]
    where = dataset.path or "<annotations>"
    if not ids:
        raise DataError(f"no images of cell type {cell_type} in the source", file=where)
    bank = CellBank(cell_type)
    n_annotated = 0
    for image_id in ids:
        rec = dataset.image(image_id)
        anns = dataset.annotations_for(image_id)
        bank.image_counts.append(len(anns))
        bank.image_confluences.append(min(1.0, sum(float(a.get("area", 0.0)) for a in anns)
                                          / float(rec["width"] * rec["height"])))
        if not anns:
            continue
        n_annotated += len(anns)
        path = locator.resolve(rec["file_name"], record=f"image id={image_id!r}", annotations=dataset.path)
        image = read_image(path, expected_size=(rec["width"], rec["height"]))
        for ann in anns:
            poly = _polygon_of(ann)
            if poly is None or len(poly) < 3 or polygon_area(poly) < config.min_area:
                continue
            cut = cut_cell(image, poly, config.margin)
            if cut is None:
                continue
            pixels, alpha, local = cut
            bank.cells.append(BankCell(pixels, alpha, local, polygon_area(local), rec["file_name"], ann["id"]))
    if n_annotated == 0:
        raise DataError(f"cell type {cell_type}: {len(ids)} image(s) but no annotated cells; "
                        "cannot build a cell bank", file=where)
    if len(bank.cells) < config.min_cells:
        raise DataError(f"cell type {cell_type}: only {len(bank.cells)} usable cell(s) of {n_annotated} annotated "
                        f"(whole, >= {config.min_area} px, >= {config.margin} px from the border); "
                        f"at least {config.min_cells} are needed", file=where)
    if len(bank.cells) > config.max_cells:
        keep = np.sort(rng.choice(len(bank.cells), size=config.max_cells, replace=False))
        bank.cells = [bank.cells[i] for i in keep]
    log.info("cell bank %s: %d cells from %d images", cell_type, len(bank.cells), len(ids))
    return bank


def cell_type_ids(dataset: CocoDataset) -> dict[str, list]:
    """Image ids of the dataset grouped by cell type (file-name order)."""
    out: dict[str, list] = {}
    for image_id in dataset.image_ids:
        out.setdefault(dataset.cell_type(image_id), []).append(image_id)
    return out
