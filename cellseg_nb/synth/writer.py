"""Generate a LIVECell-format synthetic extension of a source dataset and write it to disk.

For every source image, ``factor`` synthetic images of the same cell type are composed on that image's
cell-free background with cells from the type's bank, and written as
``images/livecell_train_val_images/<CellType>/<source stem>_synthNN.tif``. The originals are linked
(hard link, or copied where links are impossible) into the same layout, so ``dest`` is a complete
dataset. Three json files go to ``annotations/LIVECell/``: ``<stem>_synthetic.json`` (synthetic only),
``<stem>_extended.json`` (originals + synthetic) and the summary ``<stem>_synth_summary.json``.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from pycocotools import mask as mask_utils

from .. import __version__
from ..atomic import atomic_path, atomic_write_json
from ..celltypes import CELL_TYPES, canonical_cell_type, format_file_name, parse_file_name
from ..data.coco import CocoDataset, load_coco
from ..data.geometry import polygon_annotation
from ..data.images import read_image, write_image
from ..data.layout import ANNOTATION_DIR, IMAGE_DIRS, ImageLocator
from ..errors import DataError
from .background import BackgroundConfig, estimate_background
from .bank import BankConfig, build_cell_bank, cell_type_ids
from .compose import ComposeConfig, ComposedImage, compose_image
from .density import DensityConfig, DensitySampler
from .geometry import rasterize_full

log = logging.getLogger(__name__)

SYNTH_IMAGE_DIR = IMAGE_DIRS["train"]


@dataclass(frozen=True)
class SynthConfig:
    """Everything that decides the synthetic set; the same config and seed give the same bytes."""

    factor: int = 5
    seed: int = 0
    density: DensityConfig = field(default_factory=DensityConfig)
    compose: ComposeConfig = field(default_factory=ComposeConfig)
    bank: BankConfig = field(default_factory=BankConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    cell_types: tuple[str, ...] | None = None
    link_originals: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.factor, int) or self.factor < 1:
            raise ValueError(f"factor must be a positive integer, got {self.factor!r}")


@dataclass
class SynthResult:
    """Where things went and how many: images and cells written, targets not met, per-type counts."""

    dest: Path
    synthetic_json: Path
    extended_json: Path
    summary_json: Path
    images_written: int = 0
    cells_written: int = 0
    shortfalls: int = 0
    per_type: dict[str, dict] = field(default_factory=dict)


def synthetic_file_name(source_file_name: str, index: int) -> str:
    """``A172_Phase_C7_1_02d16h00m_2.tif`` + 3 -> ``A172_Phase_C7_1_02d16h00m_2_synth03.tif``."""
    meta = parse_file_name(source_file_name)
    return format_file_name(meta.cell_type, meta.well, meta.location, int(round(meta.elapsed_hours)), meta.crop,
                            synthetic_index=index)


def _next_id(records: Iterable[dict]) -> int:
    ints = [r["id"] for r in records if isinstance(r["id"], int) and not isinstance(r["id"], bool)]
    return (max(ints) + 1) if ints else 1


def _link_or_copy(src: Path, dst: Path) -> None:
    if dst.exists():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        with atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)


def _original_destination(images_root: Path, path: Path, cell_type: str) -> Path:
    try:
        return Path(path).resolve().relative_to(images_root.resolve())
    except ValueError:
        return Path(SYNTH_IMAGE_DIR) / cell_type / path.name


def _unique_by_file_name(dataset: CocoDataset, ids: list) -> list:
    """Image ids with repeated file names dropped (LIVECell lists some images twice under different ids)."""
    seen: set[str] = set()
    out = []
    for image_id in ids:
        name = dataset.image(image_id)["file_name"]
        if name not in seen:
            seen.add(name)
            out.append(image_id)
    return out


def _cell_union(annotations: list[dict], width: int, height: int) -> np.ndarray:
    """All annotated cells of an image (polygons and RLE) as one bool mask."""
    polys = [max(a["segmentation"], key=len) for a in annotations if isinstance(a["segmentation"], list)]
    union = rasterize_full(polys, width, height)
    for a in annotations:
        if isinstance(a["segmentation"], dict):
            seg = a["segmentation"]
            rle = mask_utils.frPyObjects(seg, height, width) if isinstance(seg["counts"], list) else seg
            union |= mask_utils.decode(rle).astype(bool)
    return union


def _selected_types(dataset: CocoDataset, config: SynthConfig) -> list[str]:
    present = cell_type_ids(dataset)
    if config.cell_types is None:
        return [t for t in CELL_TYPES if t in present]
    wanted = []
    for name in config.cell_types:
        t = canonical_cell_type(name)
        if t not in present:
            raise DataError(f"cell type {t} was asked for but the source has no images of it",
                            file=dataset.path or "<annotations>")
        wanted.append(t)
    return wanted


def earlier_synth_output(folder: Path) -> bool:
    """A synthetic set written before output markers existed (it holds a ``*_synth_summary.json``)."""
    return any((folder / ANNOTATION_DIR).glob("*_synth_summary.json"))


def check_sources_outside(dest: Path, sources: list[Path | None]) -> None:
    """``dest`` is replaced whole: it must not hold (or be) the source annotations or images."""
    from ..errors import OutputError

    target = Path(os.path.realpath(dest))
    for source in sources:
        if source is None:
            continue
        real = Path(os.path.realpath(source))
        if real == target or target in real.parents:
            raise OutputError(f"holds the source {source}; the synthetic set would replace it. Choose another "
                              "folder", path=dest, what="--dest")


def generate_synthetic_dataset(annotations: str | Path | CocoDataset, images: str | Path, dest: str | Path,
                               config: SynthConfig = SynthConfig(), *,
                               on_image: Callable[[dict, ComposedImage], None] | None = None,
                               overwrite: bool = False) -> SynthResult:
    """Write ``config.factor`` synthetic images per source image (see the module docstring).

    ``on_image(image_record, composed)`` is called for every synthetic image before it is written
    (tests keep the pasted footprints that way). Raises :class:`DataError` for a cell type without
    usable cells or a density its bank cannot supply, ``ValueError`` for impossible settings.

    Everything is written into a hidden staging folder beside ``dest`` and swapped in at the end, so an
    interrupt leaves the old set or the new one. ``dest`` must be missing, empty or an earlier synthetic
    set, and must not hold the sources; other content is refused unless ``overwrite=True``.
    """
    from ..atomic import atomic_directory, check_replaceable

    dest = Path(dest)
    source_file = annotations.path if isinstance(annotations, CocoDataset) else Path(annotations)
    check_sources_outside(dest, [source_file, Path(images)])
    check_replaceable(dest, "synth", overwrite=overwrite, earlier_output=earlier_synth_output)
    dataset = annotations if isinstance(annotations, CocoDataset) else load_coco(annotations)
    with atomic_directory(dest, "synth", overwrite=overwrite, earlier_output=earlier_synth_output) as stage:
        result = _generate(dataset, Path(images), dest, stage, config, on_image)
    return result


def _generate(dataset: CocoDataset, images_root: Path, dest: Path, stage: Path, config: SynthConfig,
              on_image: Callable[[dict, ComposedImage], None] | None) -> SynthResult:
    """The body of :func:`generate_synthetic_dataset`: files go to ``stage``, ``result`` names ``dest``."""
    locator = ImageLocator(images_root)
    stem = dataset.path.stem if dataset.path is not None else "livecell_coco"
    ann_dir = dest / ANNOTATION_DIR
    result = SynthResult(dest, ann_dir / f"{stem}_synthetic.json", ann_dir / f"{stem}_extended.json",
                         ann_dir / f"{stem}_synth_summary.json")
    by_type = cell_type_ids(dataset)
    types = _selected_types(dataset, config)
    next_image_id, next_ann_id = _next_id(dataset.images), _next_id(dataset.annotations)
    synth_images: list[dict] = []
    synth_anns: list[dict] = []
    kept_original_ids: list = []
    for cell_type in types:
        t_index = CELL_TYPES.index(cell_type)
        ids = _unique_by_file_name(dataset, by_type[cell_type])
        bank = build_cell_bank(dataset, locator, cell_type, config=config.bank, image_ids=ids,
                               rng=np.random.default_rng(np.random.SeedSequence([config.seed, t_index, 1_000_003])))
        first = dataset.image(ids[0])
        sampler = DensitySampler(bank, config.density, int(first["width"]) * int(first["height"]))
        stats = {"source_images": 0, "synthetic_images": 0, "cells": 0, "shortfalls": 0, "bank_cells": len(bank),
                 "counts": []}
        kept_original_ids.extend(by_type[cell_type])
        for i_index, image_id in enumerate(ids):
            rec = dataset.image(image_id)
            stats["source_images"] += 1
            path = locator.resolve(rec["file_name"], record=f"image id={image_id!r}", annotations=dataset.path)
            if config.link_originals:
                _link_or_copy(path, stage / "images" / _original_destination(images_root, path, cell_type))
            image = read_image(path, expected_size=(rec["width"], rec["height"]))
            cells = _cell_union(dataset.annotations_for(image_id), rec["width"], rec["height"])
            rng = np.random.default_rng(np.random.SeedSequence([config.seed, t_index, i_index]))
            background = estimate_background(image, cells, rng, config.background)
            for k in range(1, config.factor + 1):
                composed = compose_image(background, bank, sampler.sample(rng), rng, config.compose)
                name = synthetic_file_name(rec["file_name"], k)
                img_rec = {
                    "id": next_image_id, "width": rec["width"], "height": rec["height"], "file_name": name,
                    "original_filename": name.rsplit(".", 1)[0] + ".png", "url": "",
                    "synthetic_source": rec["file_name"],
                    "synthetic_target": {"count": composed.target.count, "confluence": composed.target.confluence},
                }
                if on_image is not None:
                    on_image(img_rec, composed)
                write_image(stage / "images" / SYNTH_IMAGE_DIR / cell_type / name, composed.image)
                for cell in composed.cells:
                    synth_anns.append(polygon_annotation(next_ann_id, next_image_id, cell.polygon))
                    next_ann_id += 1
                synth_images.append(img_rec)
                next_image_id += 1
                stats["synthetic_images"] += 1
                stats["cells"] += len(composed.cells)
                stats["counts"].append(len(composed.cells))
                if composed.shortfall:
                    stats["shortfalls"] += 1
                    log.warning("%s: target %s not met (%d cells, confluence %.3f)", name, composed.target,
                                len(composed.cells), composed.confluence)
        result.per_type[cell_type] = stats
        result.images_written += stats["synthetic_images"]
        result.cells_written += stats["cells"]
        result.shortfalls += stats["shortfalls"]
        log.info("synth %s: %d images, %d cells", cell_type, stats["synthetic_images"], stats["cells"])
    _write_jsons(dataset, kept_original_ids, synth_images, synth_anns, config, result, stage)
    return result


def _write_jsons(dataset: CocoDataset, original_ids: list, synth_images: list[dict], synth_anns: list[dict],
                 config: SynthConfig, result: SynthResult, stage: Path) -> None:
    def staged(path: Path) -> Path:
        return stage / path.relative_to(result.dest)

    info = dict(dataset.info)
    info["synthetic"] = {"generator": f"cellseg-nb {__version__} cut-and-paste", "factor": config.factor,
                         "seed": config.seed, "density": config.density.mode}
    categories = dataset.categories
    licenses = dataset.licenses
    atomic_write_json(staged(result.synthetic_json), {"info": info, "licenses": licenses, "categories": categories,
                                              "images": synth_images, "annotations": synth_anns})
    originals = dataset.subset(original_ids)
    atomic_write_json(staged(result.extended_json), {"info": info, "licenses": licenses, "categories": categories,
                                             "images": originals.images + synth_images,
                                             "annotations": originals.annotations + synth_anns})
    summary = {"config": asdict(config), "images_written": result.images_written,
               "cells_written": result.cells_written, "shortfalls": result.shortfalls, "per_type": result.per_type,
               "synthetic_json": result.synthetic_json.name, "extended_json": result.extended_json.name}
    atomic_write_json(staged(result.summary_json), summary, indent=1)
