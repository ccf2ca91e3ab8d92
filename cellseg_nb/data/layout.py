"""Where an image file of a COCO record lives: the official nested layout or a flat folder.

LIVECell's download nests images as ``images/livecell_{train_val,test}_images/<CellType>/<file>``; some
redistributed copies put every file in one folder. A :class:`ImageLocator` accepts any of these roots:
the ``images`` folder, one split folder, one cell-type folder or a flat folder, and finds the file without
the caller saying which layout it is.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .coco import file_name_problem

#: Split folders of the official layout, in the order they are searched.
SPLIT_DIRS: tuple[str, ...] = ("livecell_train_val_images", "livecell_test_images")
IMAGE_SUFFIXES: tuple[str, ...] = (".tif", ".tiff", ".png")


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
