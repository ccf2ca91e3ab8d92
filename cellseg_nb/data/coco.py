"""LIVECell COCO annotation files: read, validate and index them.

LIVECell ships LIVECell-wide, single-cell-type and size-split files. Some single-cell-type copies store
``annotations`` as a dict keyed by annotation id (pycocotools then fails with ``string indices must be
integers``); both forms load here into the same :class:`CocoDataset`. Every record is checked on load
so a bad file fails once, up front, with the file, the record and the problem, instead of deep inside
a training run. With ``on_error="skip"`` bad records are logged, dropped and listed in
``CocoDataset.skipped``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Iterable, Literal, Mapping, Sequence

from ..celltypes import ImageMeta, canonical_cell_type, parse_file_name
from ..errors import DataError
from .geometry import polygon_area, polygon_bbox, segmentation_rle
from .records import area_problem, bbox_problem, flag_problem, id_problem, is_whole, polygons_problem, rle_problem

log = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]

#: Largest image side accepted in a record (LIVECell's are 704 x 520); bigger sizes are typos or hostile.
MAX_IMAGE_SIDE: int = 32768

#: LIVECell's single category.
CELL_CATEGORY: dict[str, Any] = {"supercategory": "cell", "id": 1, "name": "cell"}


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; a truncated or malformed file raises :class:`DataError` naming it and the position."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError("file not found", file=path) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=path) from None
    if not text.strip():
        raise DataError("file is empty (expected a JSON document)", file=path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        near_end = exc.pos >= len(text.rstrip()) - 1
        what = ("not valid JSON: the file is truncated (it ends mid-record)" if near_end
                else "not valid JSON (corrupted or truncated file)")
        raise DataError(f"{what}: {exc.msg} at line {exc.lineno} column {exc.colno}", file=path) from None


@dataclass
class CocoDataset:
    """A COCO instance-segmentation file held as plain records, indexed by image.

    ``images`` and ``annotations`` are the COCO records (annotations always a list); ``path`` is the file
    they came from (``None`` for data built in memory); ``skipped`` lists the records dropped on load with
    ``on_error="skip"`` as ``"<record>: <problem>"`` strings.
    """

    images: list[dict]
    annotations: list[dict]
    categories: list[dict] = field(default_factory=lambda: [dict(CELL_CATEGORY)])
    info: dict = field(default_factory=dict)
    licenses: list = field(default_factory=list)
    path: Path | None = None
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.path = None if self.path is None else Path(self.path)
        self._images_by_id: dict[Any, dict] = {img["id"]: img for img in self.images}
        self._anns_by_image: dict[Any, list[dict]] = {img_id: [] for img_id in self._images_by_id}
        for ann in self.annotations:
            self._anns_by_image.setdefault(ann["image_id"], []).append(ann)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_ids(self) -> list:
        """Image ids in file order."""
        return [img["id"] for img in self.images]

    def image(self, image_id: Any) -> dict:
        """The image record with this id (``KeyError`` for an unknown id)."""
        try:
            return self._images_by_id[image_id]
        except KeyError:
            raise KeyError(f"{self.path or '<annotations>'}: no image with id {image_id!r}") from None

    def annotations_for(self, image_id: Any) -> list[dict]:
        """The annotations of one image, in file order (empty for an image without cells)."""
        return self._anns_by_image.get(image_id, [])

    def meta(self, image_id: Any) -> ImageMeta:
        """What the image's file name says: cell type, well, location, elapsed hours, crop."""
        record = self.image(image_id)
        try:
            return parse_file_name(record["file_name"])
        except ValueError as exc:
            raise DataError(str(exc), file=self.path or "<annotations>", record=f"image id={image_id!r}") from None

    def cell_type(self, image_id: Any) -> str:
        """Folder-spelling cell type of an image, or ``"unknown"`` when its name is not LIVECell's."""
        try:
            return parse_file_name(self.image(image_id)["file_name"]).cell_type
        except ValueError:
            return "unknown"

    def cell_types(self) -> list[str]:
        """Cell types present, in the study's order (``"unknown"`` last)."""
        from ..celltypes import CELL_TYPES

        present = {self.cell_type(i) for i in self.image_ids}
        return [c for c in CELL_TYPES if c in present] + (["unknown"] if "unknown" in present else [])

    def subset(self, image_ids: Iterable) -> CocoDataset:
        """The images with these ids (kept in file order) and their annotations."""
        wanted = set(image_ids)
        images = [img for img in self.images if img["id"] in wanted]
        annotations = [a for img in images for a in self.annotations_for(img["id"])]
        return CocoDataset(images=images, annotations=annotations, categories=self.categories, info=self.info,
                           licenses=self.licenses, path=self.path)

    def filter_cell_types(self, cell_types: Sequence[str] | str | None) -> CocoDataset:
        """The images of these cell types (any spelling: ``"BT-474"``, ``"bt474"``); ``None`` keeps all."""
        if cell_types is None:
            return self
        if isinstance(cell_types, str):
            cell_types = [cell_types]
        wanted = {canonical_cell_type(c) for c in cell_types}
        return self.subset(i for i in self.image_ids if self.cell_type(i) in wanted)

    def to_dict(self) -> dict:
        """The COCO json structure (annotations as a list)."""
        return {"info": self.info, "licenses": self.licenses, "categories": self.categories,
                "images": self.images, "annotations": self.annotations}

    def to_pycocotools(self):
        """A ``pycocotools.coco.COCO`` over the same records (for the reference evaluator and ``annToMask``)."""
        import contextlib
        import io

        from pycocotools.coco import COCO

        coco = COCO()
        coco.dataset = self.to_dict()
        with contextlib.redirect_stdout(io.StringIO()):
            coco.createIndex()
        return coco


def load_coco(path: str | Path, *, on_error: OnError = "raise") -> CocoDataset:
    """Read and validate a LIVECell COCO json (annotations as list or as dict keyed by id)."""
    path = Path(path)
    return dataset_from_dict(read_json(path), path=path, on_error=on_error)


def dataset_from_dict(data: Mapping[str, Any], *, path: str | Path | None = None,
                      on_error: OnError = "raise") -> CocoDataset:
    """Validate COCO records held in memory and index them (see :func:`load_coco`).

    Missing ``iscrowd`` and ``category_id`` default to 0 and 1; a missing ``area`` or ``bbox`` is computed
    from the segmentation (polygon area and extent, as LIVECell does; mask area for RLE).
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    where = "<annotations>" if path is None else str(path)
    if not isinstance(data, Mapping):
        raise DataError(f"top level is a {type(data).__name__}, expected a COCO object", file=where)
    if not isinstance(data.get("images"), list):
        raise DataError("no 'images' list (not a COCO instance-segmentation file)", file=where)
    raw_anns = data.get("annotations", [])
    if isinstance(raw_anns, Mapping):
        raw_anns = list(raw_anns.values())
    if not isinstance(raw_anns, list):
        raise DataError(f"'annotations' is a {type(raw_anns).__name__}, expected a list or a dict keyed by id",
                        file=where)

    for key, kind in (("info", Mapping), ("licenses", list), ("categories", list)):
        if data.get(key) is not None and not isinstance(data[key], kind):
            expected = "an object" if kind is Mapping else "a list"
            raise DataError(f"'{key}' is a {type(data[key]).__name__}, expected {expected}", file=where)
    for k, cat in enumerate(data.get("categories") or []):
        if not isinstance(cat, Mapping) or not is_whole(cat.get("id")):
            raise DataError(f"categories[{k}] is {cat!r}; expected an object with an integer 'id'", file=where)

    skipped: list[str] = []

    def bad(record: str, problem: str) -> None:
        if on_error == "raise":
            raise DataError(problem, file=where, record=record)
        skipped.append(f"{record}: {problem}")
        log.warning("%s: %s: %s (skipped)", where, record, problem)

    images: list[dict] = []
    sizes: dict[Any, tuple[int, int]] = {}
    dropped_images: set = set()
    for k, img in enumerate(data["images"]):
        record = f"image id={img.get('id')!r}" if isinstance(img, Mapping) else f"images[{k}]"
        problem = _image_problem(img, sizes)
        if problem:
            if isinstance(img, Mapping) and "id" in img:
                dropped_images.add(_hashable(img["id"]))
            bad(record, problem)
            continue
        images.append(dict(img))
        sizes[img["id"]] = (int(img["height"]), int(img["width"]))

    annotations: list[dict] = []
    seen_ann_ids: set = set()
    for k, ann in enumerate(raw_anns):
        record = f"annotation id={ann.get('id')!r}" if isinstance(ann, Mapping) else f"annotations[{k}]"
        if not isinstance(ann, Mapping):
            bad(record, f"is a {type(ann).__name__}, expected an object")
            continue
        problem = _annotation_problem(ann, sizes, dropped_images, seen_ann_ids)
        if problem:
            bad(record, problem)
            continue
        seen_ann_ids.add(_hashable(ann["id"]))
        annotations.append(_normalised_annotation(ann, sizes[ann["image_id"]]))

    categories = data.get("categories") or [dict(CELL_CATEGORY)]
    return CocoDataset(images=images, annotations=annotations, categories=list(categories),
                       info=dict(data.get("info") or {}), licenses=list(data.get("licenses") or []),
                       path=None if path is None else Path(path), skipped=skipped)


def _hashable(value: Any) -> Any:
    return value if isinstance(value, (int, str, float, tuple)) else repr(value)


def _image_problem(img: Any, sizes: dict) -> str | None:
    if not isinstance(img, Mapping):
        return f"is a {type(img).__name__}, expected an object"
    for key in ("id", "file_name", "width", "height"):
        if key not in img:
            return f"missing '{key}'"
    if not isinstance(img["id"], (int, str)) or isinstance(img["id"], bool):
        return f"id {img['id']!r} is not an integer or string"
    if img["id"] in sizes:
        return f"duplicate image id {img['id']!r}"
    for key in ("width", "height"):
        value = img[key]
        if not is_whole(value) or value <= 0:
            return f"'{key}' is {value!r}, expected a positive integer"
        if value > MAX_IMAGE_SIDE:
            return f"'{key}' is {value!r}; images larger than {MAX_IMAGE_SIDE} px per side are not supported"
    return file_name_problem(img["file_name"])


def file_name_problem(name: Any) -> str | None:
    """Why an image ``file_name`` is unsafe to join to an image folder, or ``None`` when it is fine."""
    if not isinstance(name, str) or not name.strip():
        return f"file_name {name!r} is not a non-empty string"
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() or name.startswith(("/", "\\")):
        return f"file_name {name!r} is an absolute path; expected a name relative to the image folder"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return f"file_name {name!r} contains '..'; it could point outside the image folder"
    return None


def _annotation_problem(ann: Mapping, sizes: dict, dropped_images: set, seen: set) -> str | None:
    for key in ("id", "image_id", "segmentation"):
        if key not in ann:
            return f"missing '{key}'"
    for key in ("id", "image_id"):
        problem = id_problem(ann[key], key)
        if problem:
            return problem
    if _hashable(ann["id"]) in seen:
        return f"duplicate annotation id {ann['id']!r}"
    if ann["image_id"] not in sizes:
        if _hashable(ann["image_id"]) in dropped_images:
            return f"its image (image_id {ann['image_id']!r}) was skipped"
        return f"image_id {ann['image_id']!r} has no image record"
    size = sizes[ann["image_id"]]
    if "category_id" in ann and (not is_whole(ann["category_id"]) or ann["category_id"] < 0):
        return f"'category_id' is {ann['category_id']!r}, expected a non-negative integer"
    if "iscrowd" in ann:
        problem = flag_problem(ann["iscrowd"], "iscrowd")
        if problem:
            return problem
    problem = segmentation_problem(ann["segmentation"], size)
    if problem:
        return problem
    if "area" in ann:
        problem = area_problem(ann["area"], size)
        if problem:
            return problem
    if "bbox" in ann:
        return bbox_problem(ann["bbox"], size)
    return None


def segmentation_problem(seg: Any, size: tuple[int, int]) -> str | None:
    """Why a segmentation (polygons or RLE) cannot be rasterised, or ``None`` when it is fine.

    Checked in Python before pycocotools sees it (see :mod:`cellseg_nb.data.records`): RLE size and
    counts (decoded and summed), polygon coordinates finite and inside the image.
    """
    if isinstance(seg, Mapping):
        return rle_problem(seg, size)
    return polygons_problem(seg, size)


def _normalised_annotation(ann: Mapping, size: tuple[int, int]) -> dict:
    out = dict(ann)
    out.setdefault("category_id", 1)
    out.setdefault("iscrowd", 0)
    seg = out["segmentation"]
    if "area" not in out or "bbox" not in out:
        if isinstance(seg, Mapping):
            from pycocotools import mask as mask_utils

            rle = segmentation_rle(seg, *size)
            out.setdefault("area", float(mask_utils.area(rle)))
            out.setdefault("bbox", [float(v) for v in mask_utils.toBbox(rle)])
        else:
            out.setdefault("area", float(sum(polygon_area(p) for p in seg)))
            out.setdefault("bbox", polygon_bbox([v for p in seg for v in p]))
    return out
