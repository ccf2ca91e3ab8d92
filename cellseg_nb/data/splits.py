"""What a notebook needs to start: the annotation file of a split, a bounded image subset and a loader.

Notebooks take ``data_root``, ``split``, ``max_images`` and ``seed`` as parameters; these helpers turn
them into a :class:`~cellseg_nb.data.coco.CocoDataset` and an image loader so every notebook picks the
same images for the same parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..celltypes import CELL_TYPES, canonical_cell_type
from ..errors import DataError
from .coco import CocoDataset, load_coco
from .images import read_image
from .layout import ImageLocator, annotation_relpath, single_type_relpath


def annotation_path(data_root: str | Path, split: str) -> Path:
    """``<data_root>/annotations/LIVECell/livecell_coco_<split>.json`` (LIVECell's own layout)."""
    return Path(data_root) / annotation_relpath(split)


def single_type_annotation_path(data_root: str | Path, cell_type: str, split: str) -> Path:
    """``<data_root>/annotations/LIVECell_single_cells/<celltype>/<split>.json`` (may not exist)."""
    return Path(data_root) / single_type_relpath(canonical_cell_type(cell_type), split)


def split_annotations(data_root: str | Path, split: str, cell_type: str | None = None) -> tuple[Path, list[str] | None]:
    """The annotation file of a split and the cell-type filter to apply to it: for one ``cell_type``, its
    single-cell-type file when the data root has one (no filter needed), else the LIVECell-wide file
    filtered to that line."""
    if cell_type is None:
        return annotation_path(data_root, split), None
    own = single_type_annotation_path(data_root, cell_type, split)
    if own.is_file():
        return own, None
    return annotation_path(data_root, split), [canonical_cell_type(cell_type)]


def pick_images(dataset: CocoDataset, max_images: int = 0, *, seed: int = 0,
                cell_types: Sequence[str] | str = "all") -> CocoDataset:
    """At most ``max_images`` images (0 = all), spread evenly over cell types, chosen with ``seed``."""
    if cell_types != "all":
        dataset = dataset.filter_cell_types([cell_types] if isinstance(cell_types, str) else cell_types)
    if not max_images or max_images >= len(dataset.images):
        return dataset
    rng = np.random.default_rng(seed)
    by_type: dict[str, list] = {}
    for image_id in dataset.image_ids:
        by_type.setdefault(dataset.cell_type(image_id), []).append(image_id)
    queues = {t: list(rng.permutation(len(ids))) for t, ids in by_type.items()}
    chosen: list = []
    order = [t for t in CELL_TYPES if t in by_type] + sorted(set(by_type) - set(CELL_TYPES))
    while len(chosen) < max_images:
        for cell_type in order:
            if queues[cell_type] and len(chosen) < max_images:
                chosen.append(by_type[cell_type][queues[cell_type].pop(0)])
    return dataset.subset(chosen)


@dataclass
class SplitData:
    """A split's annotations (possibly a subset) and where its images are."""

    dataset: CocoDataset
    annotations: Path
    image_root: Path

    def load_image(self, record: dict) -> np.ndarray:
        """The uint8 ``H x W`` pixels of an image record."""
        path = self._locator.resolve(record["file_name"], record=f"image id={record['id']!r}",
                                     annotations=self.annotations)
        return read_image(path, expected_size=(record["width"], record["height"]))

    def __post_init__(self) -> None:
        self._locator = ImageLocator(self.image_root)

    @property
    def cell_types(self) -> list[str]:
        present = {self.dataset.cell_type(i) for i in self.dataset.image_ids}
        return [c for c in CELL_TYPES if c in present]


def load_split(data_root: str | Path, split: str, *, max_images: int = 0, seed: int = 0,
               cell_types: Sequence[str] | str = "all") -> SplitData:
    """Annotations of ``split`` under ``data_root`` restricted by :func:`pick_images`; images under
    ``data_root/images`` (nested or flat). Cell types are picked from the LIVECell-wide file, so image ids
    are those every model of a run predicted."""
    path = annotation_path(data_root, split)
    if not path.is_file():
        raise DataError(f"no {split} annotations; build the demo data (cellseg-nb demo-data) or download "
                        "LIVECell (cellseg-nb download)", file=path)
    if cell_types != "all" and not isinstance(cell_types, str):
        cell_types = [canonical_cell_type(c) for c in cell_types]
    dataset = pick_images(load_coco(path), max_images, seed=seed, cell_types=cell_types)
    return SplitData(dataset, path, Path(data_root) / "images")


def split_from_files(annotations: str | Path, image_root: str | Path) -> SplitData:
    """A :class:`SplitData` for any COCO json and image folder (e.g. a synthetic set written by 02)."""
    return SplitData(load_coco(annotations), Path(annotations), Path(image_root))
