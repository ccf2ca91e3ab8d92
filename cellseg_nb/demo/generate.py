"""Generate the embedded LIVECell-format demo dataset (no download needed).

Split sizes per cell line: train ``images_per_type``, val ``max(1, images_per_type // 4)``, test
``max(1, images_per_type // 2)``. Every image draws its own random stream from
``SeedSequence([seed, line, split, index])``, so the same seed gives the same bytes and a larger
``images_per_type`` keeps the images a smaller one made (the acquisition list aside).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from .. import __version__
from ..celltypes import CELL_TYPES, canonical_cell_type, format_file_name
from ..data.geometry import polygon_annotation
from ..data.images import write_image
from ..errors import ConfigError
from . import layout
from .growth import Acquisition, acquisitions, cell_count, spread_factor
from .morphology import MORPHOLOGIES
from .render import render_phase_contrast
from .scene import Cell, place_cells

log = logging.getLogger(__name__)


def split_sizes(images_per_type: int) -> dict[str, int]:
    """Images per cell line in each split: train N, val max(1, N // 4), test max(1, N // 2)."""
    if int(images_per_type) < 1:
        raise ConfigError(f"images_per_type must be at least 1, got {images_per_type!r}")
    n = int(images_per_type)
    return {"train": n, "val": max(1, n // 4), "test": max(1, n // 2)}


@dataclass
class DemoImage:
    """One generated image and its cells' polygons."""

    cell_type: str
    acquisition: Acquisition
    image: np.ndarray
    polygons: list[np.ndarray] = field(default_factory=list)

    @property
    def file_name(self) -> str:
        a = self.acquisition
        return format_file_name(self.cell_type, a.well, a.location, a.elapsed_hours, a.crop)


def generate_image(cell_type: str, acquisition: Acquisition, rng: np.random.Generator) -> DemoImage:
    """Simulate one 704x520 phase-contrast image of ``cell_type`` at the acquisition's elapsed time."""
    cell_type = canonical_cell_type(cell_type)
    morph = MORPHOLOGIES[cell_type]
    shape = (layout.HEIGHT, layout.WIDTH)
    hours = acquisition.elapsed_hours
    n = cell_count(morph, hours, layout.HEIGHT * layout.WIDTH, rng)
    cells: list[Cell] = place_cells(morph, n, spread_factor(morph, hours), layout.WIDTH, layout.HEIGHT, rng)
    image = render_phase_contrast(cells, morph, cell_type, shape, rng)
    return DemoImage(cell_type, acquisition, image, [c.polygon for c in cells])


def _image_rng(seed: int, type_index: int, split_index: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), type_index, split_index, index]))


def generate_demo_dataset(dest: str | Path, images_per_type: int = 8, seed: int = 0,
                          cell_types: Iterable[str] | None = None, *, overwrite: bool = False) -> Path:
    """Write a LIVECell-format demo dataset under ``dest`` and return ``dest``.

    Layout, file names and COCO records follow LIVECell exactly (see :mod:`cellseg_nb.demo.layout`);
    ``cell_types`` restricts the lines (any spelling; default all eight). Unknown lines or
    ``images_per_type < 1`` raise :class:`~cellseg_nb.errors.ConfigError`.

    The dataset is written into a hidden staging folder beside ``dest`` and swapped in at the end
    (:func:`~cellseg_nb.atomic.atomic_directory`), so an interrupt leaves the old dataset or the new one,
    never images that no longer match their annotations. ``dest`` must be missing, empty or an earlier
    demo dataset; other content is refused (:class:`~cellseg_nb.errors.OutputError`) unless
    ``overwrite=True``, which replaces it whole.
    """
    from ..atomic import atomic_directory, check_replaceable

    check_replaceable(dest, "demo-data", overwrite=overwrite, earlier_output=_earlier_demo)
    try:
        types = list(CELL_TYPES) if cell_types is None else [canonical_cell_type(c) for c in cell_types]
    except KeyError as exc:
        raise ConfigError(f"cell_types: {exc.args[0]}") from None
    if not types:
        raise ConfigError("cell_types is empty: give at least one cell line")
    sizes = split_sizes(images_per_type)
    with atomic_directory(dest, "demo-data", overwrite=overwrite, earlier_output=_earlier_demo) as stage:
        _write_dataset(stage, types, sizes, images_per_type, seed)
    return Path(dest)


def _earlier_demo(folder: Path) -> bool:
    """A demo dataset written before output markers existed (its train json names our generator)."""
    train = folder / "annotations" / "LIVECell" / "livecell_coco_train.json"
    try:
        with open(train, encoding="utf-8") as fh:
            return "cellseg-nb demo generator" in fh.read(4096)
    except OSError:
        return False


def _write_dataset(root: Path, types: list[str], sizes: dict[str, int], images_per_type: int, seed: int) -> None:
    """Simulate and write every image, then the annotation files (into the staging folder ``root``)."""
    records: dict[str, dict[str, tuple[list, list]]] = {s: {} for s in layout.SPLITS}
    image_id, ann_id = 0, 0
    for cell_type in types:
        t_index = CELL_TYPES.index(cell_type)
        plan_rng = np.random.default_rng(np.random.SeedSequence([int(seed), t_index, 99]))
        plan = acquisitions(cell_type, sum(sizes.values()), plan_rng)
        start = 0
        for s_index, split in enumerate(layout.SPLITS):
            imgs, anns = [], []
            for i in range(sizes[split]):
                demo = generate_image(cell_type, plan[start + i], _image_rng(seed, t_index, s_index, i))
                write_image(layout.image_path(root, split, cell_type, demo.file_name), demo.image)
                image_id += 1
                imgs.append(layout.image_record(image_id, demo.file_name, cell_type))
                for poly in demo.polygons:
                    ann_id += 1
                    anns.append(polygon_annotation(ann_id, image_id, poly))
            start += sizes[split]
            records[split][cell_type] = (imgs, anns)
        log.info("demo data: %s done", cell_type)
    info = {
        "description": "cellseg-nb demo dataset: simulated phase-contrast images in LIVECell format",
        "version": __version__,
        "year": "2021",
        "contributor": "cellseg-nb demo generator",
        "url": "",
        "date_created": "generated",
        "seed": int(seed),
        "images_per_type": int(images_per_type),
        "cell_types": types,
    }
    layout.write_annotations(root, info, records)
