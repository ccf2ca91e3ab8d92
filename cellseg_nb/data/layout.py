"""LIVECell's on-disk layout: where annotation files and images live under a data root.

The official layout (what ``cellseg-nb download`` and ``cellseg-nb demo-data`` write)::

    images/livecell_train_val_images/<CellType>/<file>.tif      (train and val images)
    images/livecell_test_images/<CellType>/<file>.tif           (test images)
    annotations/LIVECell/livecell_coco_{train,val,test}.json    (all eight lines)
    annotations/LIVECell_single_cells/<celltype>/{train,val,test}.json   (one line each, lower-case folder)
    annotations/LIVECell_dataset_size_split/<name>.json         (training subsets)

The path functions here are the one place that spells these names. Some redistributed copies put every
image in one folder: an :class:`ImageLocator` accepts any root (the ``images`` folder, one split folder,
one cell-type folder or a flat folder) and finds the file without the caller saying which layout it is.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .coco import file_name_problem

#: The splits of LIVECell's annotation files.
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Split folders of the official layout, in the order they are searched.
SPLIT_DIRS: tuple[str, ...] = ("livecell_train_val_images", "livecell_test_images")
#: Where the LIVECell-wide annotation files live (synthetic sets written by ``cellseg-nb synth`` too).
ANNOTATION_DIR = "annotations/LIVECell"
#: The image folder of each split (train and val images share one).
IMAGE_DIRS: dict[str, str] = {"train": SPLIT_DIRS[0], "val": SPLIT_DIRS[0], "test": SPLIT_DIRS[1]}
IMAGE_SUFFIXES: tuple[str, ...] = (".tif", ".tiff", ".png")


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    return split


def annotation_relpath(split: str) -> str:
    """``annotations/LIVECell/livecell_coco_<split>.json``: the LIVECell-wide file of a split."""
    return f"{ANNOTATION_DIR}/livecell_coco_{_check_split(split)}.json"


def single_type_relpath(cell_type: str, split: str) -> str:
    """``annotations/LIVECell_single_cells/<celltype>/<split>.json``: one line's file (folder lower-case)."""
    return f"annotations/LIVECell_single_cells/{cell_type.lower()}/{_check_split(split)}.json"


def size_split_relpath(name: str) -> str:
    """``annotations/LIVECell_dataset_size_split/<name>.json``: a training subset."""
    return f"annotations/LIVECell_dataset_size_split/{name}.json"


def image_relpath(split: str, cell_type: str, file_name: str) -> str:
    """Where an image of ``split`` goes in the nested layout, relative to the data root."""
    return f"images/{IMAGE_DIRS[_check_split(split)]}/{cell_type}/{file_name}"


class ImageLocator:
    """Finds image files under ``root`` by their COCO ``file_name``.

    Direct candidates are tried first (``root/<file>``, ``root/<CellType>/<file>``,
    ``root/<split>/<CellType>/<file>``, ``root/<split>/<file>``); only when none exists is the tree indexed
    once by file name, so unusual nestings are found too.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._index: dict[str, Path] | None = None

    def _candidates(self, file_name: str) -> list[Path]:
        name = Path(file_name).name
        cell_type = name.split("_", 1)[0]
        out = [self.root / file_name, self.root / cell_type / name]
        for split in SPLIT_DIRS:
            out += [self.root / split / cell_type / name, self.root / split / name]
        return out

    def _indexed(self) -> dict[str, Path]:
        if self._index is None:
            index: dict[str, Path] = {}
            if self.root.is_dir():
                for path in sorted(self.root.rglob("*")):
                    if path.suffix.lower() in IMAGE_SUFFIXES and path.name not in index and path.is_file():
                        index[path.name] = path
            self._index = index
        return self._index

    def find(self, file_name: str) -> Path | None:
        """The image's path, or ``None`` when it is not under the root (or the name is unsafe)."""
        if file_name_problem(file_name):
            return None
        for candidate in self._candidates(file_name):
            if candidate.is_file():
                return candidate
        return self._indexed().get(Path(file_name).name)

    def resolve(self, file_name: str, *, record: str | None = None, annotations: str | Path | None = None) -> Path:
        """The image's path; a missing file raises :class:`DataError` naming the file, record and root."""
        problem = file_name_problem(file_name)
        if problem:
            raise DataError(problem, file=annotations or self.root, record=record)
        found = self.find(file_name)
        if found is None:
            if not self.root.is_dir():
                problem = f"image folder {self.root} does not exist"
            else:
                problem = (f"image file {file_name} not found under {self.root} "
                           "(looked in the nested <split>/<CellType>/ and the flat layout)")
            raise DataError(problem, file=annotations or self.root, record=record)
        return found
