"""Write the demo dataset in LIVECell's on-disk layout and COCO format.

    images/livecell_train_val_images/<CellType>/<file>.tif    (train and val images)
    images/livecell_test_images/<CellType>/<file>.tif         (test images)
    annotations/LIVECell/livecell_coco_{train,val,test}.json  (all lines, list-form annotations)
    annotations/LIVECell_single_cells/<celltype>/{train,val,test}.json
        (one line each; ``annotations`` is a dict keyed by id, like LIVECell's own single-cell files)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_write_json
from ..data.layout import SPLITS, annotation_relpath, image_relpath, single_type_relpath

CATEGORIES = [{"supercategory": "cell", "id": 1, "name": "cell"}]
WIDTH, HEIGHT = 704, 520


def image_path(root: Path, split: str, cell_type: str, file_name: str) -> Path:
    """Where a split's image goes in the official nested layout."""
    return Path(root) / image_relpath(split, cell_type, file_name)


def image_record(image_id: int, file_name: str, cell_type: str) -> dict:
    """A LIVECell-style image record (``original_filename`` is the .png the annotators saw)."""
    return {
        "id": image_id,
        "width": WIDTH,
        "height": HEIGHT,
        "file_name": file_name,
        "original_filename": file_name.rsplit(".", 1)[0] + ".png",
        "url": f"cellseg-nb-demo://{cell_type}/{file_name}",
    }


def coco_document(info: dict, images: list[dict], annotations: list[dict], *, dict_form: bool = False) -> dict:
    """The top-level COCO json (``dict_form`` keys annotations by str(id), as single-cell files do)."""
    anns: list | dict = {str(a["id"]): a for a in annotations} if dict_form else annotations
    return {
        "info": info,
        "licenses": [{"id": 1, "name": "cellseg-nb generated demo data (no third-party image content)",
                      "url": ""}],
        "categories": CATEGORIES,
        "images": images,
        "annotations": anns,
    }


def write_annotations(root: Path, info: dict, records: dict[str, dict[str, tuple[list, list]]]) -> list[Path]:
    """Write the LIVECell-wide and single-cell-type json files atomically.

    ``records[split][cell_type] = (image_records, annotation_records)``. Returns the paths written.
    """
    root = Path(root)
    written = []
    for split in SPLITS:
        per_type = records.get(split, {})
        images = [img for imgs, _ in per_type.values() for img in imgs]
        anns = [ann for _, a in per_type.values() for ann in a]
        path = root / annotation_relpath(split)
        written.append(atomic_write_json(path, coco_document(info, images, anns)))
        for cell_type, (imgs, a) in per_type.items():
            path = root / single_type_relpath(cell_type, split)
            written.append(atomic_write_json(path, coco_document(info, imgs, a, dict_form=True)))
    return written
