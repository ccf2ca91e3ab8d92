"""Bad input: each case raises DataError naming file and record, or is skipped and counted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cellseg_nb.data.coco import load_coco
from cellseg_nb.data.datasets import InstanceDataset, SemanticDataset
from cellseg_nb.data.images import read_image, write_image
from cellseg_nb.data.table import summarize
from cellseg_nb.errors import DataError

W, H = 40, 30
NAMES = ["A172_Phase_C7_1_00d00h00m_1.tif", "MCF7_Phase_B4_2_01d04h00m_3.tif"]


def _square(x0: float, y0: float, x1: float, y1: float) -> list:
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def make_tiny(root: Path, mutate=None) -> tuple[Path, Path]:
    """Two 40x30 images in the nested layout and a json with 3 cells; ``mutate(data)`` edits the json."""
    images = root / "images" / "livecell_train_val_images"
    for name in NAMES:
        write_image(images / name.split("_")[0] / name, np.full((H, W), 128, np.uint8))
    data = {
        "images": [{"id": i + 1, "file_name": n, "width": W, "height": H} for i, n in enumerate(NAMES)],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "segmentation": _square(2, 2, 12, 12)},
            {"id": 11, "image_id": 1, "category_id": 1, "segmentation": _square(20, 5, 30, 20)},
            {"id": 12, "image_id": 2, "category_id": 1, "segmentation": _square(5, 5, 15, 15)},
        ],
        "categories": [{"id": 1, "name": "cell", "supercategory": "cell"}],
    }
    if mutate:
        mutate(data)
    ann = root / "ann.json"
    ann.write_text(json.dumps(data))
    return ann, root / "images"


def test_truncated_json(tmp_path: Path) -> None:
    ann, _ = make_tiny(tmp_path)
    ann.write_text(ann.read_text()[:-40])
    with pytest.raises(DataError, match="truncated") as err:
        load_coco(ann)
    assert str(ann) in str(err.value)


def _bad_image_id(data):
    data["annotations"][1]["image_id"] = 99


def test_annotation_pointing_at_missing_image_record(tmp_path: Path) -> None:
    ann, _ = make_tiny(tmp_path, _bad_image_id)
    with pytest.raises(DataError, match="image_id 99") as err:
        load_coco(ann)
    assert str(ann) in str(err.value) and "annotation id=11" in str(err.value)
    result = summarize(load_coco(ann, on_error="skip"), on_error="skip")
    assert result["skipped"] == 1 and result["annotations"] == 2


def test_image_file_missing(tmp_path: Path) -> None:
    ann, images = make_tiny(tmp_path)
    (images / "livecell_train_val_images" / "MCF7" / NAMES[1]).unlink()
    with pytest.raises(DataError, match=NAMES[1]) as err:
        SemanticDataset(ann, images)
    assert "image id=2" in str(err.value)
    ds = SemanticDataset(ann, images, on_error="skip")
    assert len(ds) == 1 and len(ds.skipped) == 1
    assert ds[0][1]["image_id"] == 1


@pytest.mark.parametrize("poly, problem", [([[1, 1, 5, 5]], "at least 3"),
                                            ([[1, 1, 5, float("nan"), 3, 7]], "NaN")])
def test_bad_polygon(tmp_path: Path, poly, problem) -> None:
    def mutate(data):
        data["annotations"][2]["segmentation"] = poly
    ann, _ = make_tiny(tmp_path, mutate)
    with pytest.raises(DataError, match=problem) as err:
        load_coco(ann)
    assert "annotation id=12" in str(err.value) and str(ann) in str(err.value)
    assert len(load_coco(ann, on_error="skip").skipped) == 1


@pytest.mark.parametrize("name", ["../A172_Phase_C7_1_00d00h00m_1.tif", "/etc/A172_Phase_C7_1_00d00h00m_1.tif"])
def test_unsafe_file_name(tmp_path: Path, name: str) -> None:
    def mutate(data):
        data["images"][0]["file_name"] = name
    ann, _ = make_tiny(tmp_path, mutate)
    with pytest.raises(DataError, match="'..'|absolute") as err:
        load_coco(ann)
    assert "image id=1" in str(err.value)
    skipped = load_coco(ann, on_error="skip")
    assert len(skipped.images) == 1 and len(skipped.skipped) == 3  # the image and its two orphaned cells


@pytest.mark.parametrize("kind", ["size", "dtype", "channels"])
def test_wrong_image(tmp_path: Path, kind: str) -> None:
    ann, images = make_tiny(tmp_path)
    path = images / "livecell_train_val_images" / "A172" / NAMES[0]
    if kind == "size":
        write_image(path, np.full((H + 2, W), 128, np.uint8))
    elif kind == "dtype":
        Image.fromarray(np.full((H, W), 40000, np.uint16)).save(path, format="TIFF")
    else:
        Image.fromarray(np.full((H, W, 3), 128, np.uint8)).save(path, format="TIFF", compression="tiff_lzw")
    with pytest.raises(DataError) as err:
        read_image(path, expected_size=(W, H))
    assert str(path) in str(err.value)
    ds = InstanceDataset(ann, images)
    with pytest.raises(DataError) as err:
        ds[0]
    assert "image id=1" in str(err.value) and str(path) in str(err.value)
    skipping = InstanceDataset(ann, images, on_error="skip")
    assert skipping[0][1]["image_id"] == 2 and len(skipping.skipped) == 1
    if kind != "size":
        converted = read_image(path, convert=True)
        assert converted.dtype == np.uint8 and converted.shape == (H, W)
