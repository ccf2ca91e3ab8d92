"""The data layer on the real LIVECell sample: both json forms, metadata, pycocotools masks, flat layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

from cellseg_nb.celltypes import parse_file_name
from cellseg_nb.data.coco import load_coco
from cellseg_nb.data.datasets import InstanceDataset, SemanticDataset
from cellseg_nb.data.images import read_image
from cellseg_nb.data.layout import ImageLocator
from cellseg_nb.data.table import image_table
from cellseg_nb.data.targets import instance_masks


@pytest.fixture(scope="module")
def dict_form(sample_annotations: Path, tmp_path_factory) -> Path:
    data = json.loads(sample_annotations.read_text())
    data["annotations"] = {str(a["id"]): a for a in data["annotations"]}
    path = tmp_path_factory.mktemp("dictform") / "single.json"
    path.write_text(json.dumps(data))
    return path


def test_list_and_dict_forms_agree(sample_annotations: Path, dict_form: Path) -> None:
    a, b = load_coco(sample_annotations), load_coco(dict_form)
    assert len(a.images) == len(b.images) == 5
    assert len(a.annotations) == len(b.annotations) == 1243
    ta, tb = image_table(a), image_table(b)
    assert ta.equals(tb)
    assert ta["cells"].sum() == 1243
    for img in a.images:
        h, w = img["height"], img["width"]
        assert np.array_equal(instance_masks(a.annotations_for(img["id"]), h, w),
                              instance_masks(b.annotations_for(img["id"]), h, w))


def test_metadata_for_all_37_images(sample_images: Path) -> None:
    files = sorted(p for p in sample_images.rglob("*.tif"))
    assert len(files) == 37
    metas = [parse_file_name(p.name) for p in files]
    assert all(m.cell_type == p.parent.name for m, p in zip(metas, files))
    image = read_image(files[0])
    assert image.dtype == np.uint8 and image.shape == (520, 704)


def test_instance_masks_equal_pycocotools(sample_annotations: Path) -> None:
    ours = load_coco(sample_annotations)
    ref = COCO(str(sample_annotations))
    checked = 0
    for img in ours.images:
        anns = ours.annotations_for(img["id"])
        masks = instance_masks(anns, img["height"], img["width"])
        for mask, ann in zip(masks, anns):
            assert np.array_equal(mask, ref.annToMask(ref.anns[ann["id"]]))
            checked += 1
    assert checked == 1243


def test_table_confluence_matches_pycocotools_union(sample_annotations: Path) -> None:
    ref = COCO(str(sample_annotations))
    table = image_table(load_coco(sample_annotations)).set_index("image_id")
    for image_id, img in ref.imgs.items():
        anns = ref.loadAnns(ref.getAnnIds(imgIds=[image_id]))
        masks = [ref.annToMask(a).astype(bool) for a in anns]
        union = np.logical_or.reduce(masks)
        row = table.loc[image_id]
        assert row["cells"] == len(anns)
        assert row["confluence"] == pytest.approx(union.sum() / (img["width"] * img["height"]))
        assert row["mean_cell_area"] == pytest.approx(np.mean([m.sum() for m in masks]))
        assert row["cell_type"] == img["file_name"].split("_")[0]


def test_flat_layout_reads_the_same(sample_annotations: Path, sample_images: Path, tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    for p in sample_images.rglob("*.tif"):
        (flat / p.name).symlink_to(p)
    coco = load_coco(sample_annotations)
    for img in coco.images:
        assert ImageLocator(flat).resolve(img["file_name"]).parent == flat
    nested = SemanticDataset(coco, sample_images)
    flat_ds = SemanticDataset(coco, flat)
    for k in range(len(nested)):
        (xa, ya), (xb, yb) = nested[k], flat_ds[k]
        assert xa.equal(xb) and ya["semantic"].equal(yb["semantic"])


def test_evaluation_items_are_full_images_with_pycocotools_masks(sample_annotations: Path, sample_images: Path) -> None:
    ds = InstanceDataset(sample_annotations, sample_images)
    ref = COCO(str(sample_annotations))
    image, target = ds[0]
    img = ds.coco.images[0]
    assert image.dtype.is_floating_point and image.shape == (1, 520, 704)
    raw = read_image(ImageLocator(sample_images).resolve(img["file_name"]))
    assert np.array_equal(image[0].numpy(), raw.astype(np.float32))
    anns = ref.loadAnns(ref.getAnnIds(imgIds=[img["id"]]))
    expected = np.stack([ref.annToMask(a) for a in anns])
    assert np.array_equal(target["masks"].numpy(), expected[expected.reshape(len(anns), -1).any(1)])
    assert target["labels"].tolist() == [1] * len(target["masks"])
    assert target["cell_type"] == parse_file_name(img["file_name"]).cell_type
