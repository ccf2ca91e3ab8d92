"""Augmented samples stay consistent with pycocotools masks; reproducible draws; collate; filters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from torch.utils.data import DataLoader

from cellseg_nb.data.datasets import InstanceDataset, SemanticDataset, collate_instances
from cellseg_nb.data.images import read_image
from cellseg_nb.data.layout import ImageLocator
from cellseg_nb.data.transforms import AugmentConfig

GEOMETRY_ONLY = AugmentConfig(brightness=0.0, contrast=0.0)


def _dihedral(a: np.ndarray):
    """All 8 rotations/flips of the last two axes, written with numpy directly (the reference)."""
    for k in range(4):
        r = np.rot90(a, k, axes=(-2, -1))
        yield r
        yield r[..., ::-1]


def test_augmented_instances_match_transformed_pycocotools_masks(sample_annotations: Path, sample_images: Path,
                                                                 tmp_path: Path) -> None:
    ref = COCO(str(sample_annotations))
    ds = InstanceDataset(sample_annotations, sample_images, crop_size=128, augment=GEOMETRY_ONLY,
                         cache_dir=tmp_path, seed=3)
    for index in range(len(ds)):
        image, target = ds[index]
        img = ds.coco.images[index]
        raw = read_image(ImageLocator(sample_images).resolve(img["file_name"]))
        _, (top, left, h, w), _ = ds._window_and_geometry(index, *raw.shape)
        anns = ref.loadAnns(ref.getAnnIds(imgIds=[img["id"]]))
        masks = np.stack([ref.annToMask(a)[top:top + h, left:left + w] for a in anns])
        masks = masks[masks.reshape(len(masks), -1).any(1)]
        matches = [(im, ms) for im, ms in zip(_dihedral(raw[top:top + h, left:left + w]), _dihedral(masks))
                   if np.array_equal(im.astype(np.float32), image[0].numpy())]
        assert matches, "image is not a rotation/flip of its crop"
        assert any(np.array_equal(ms, target["masks"].numpy()) for _, ms in matches)
        m = target["masks"].numpy().astype(bool)
        for box, mask, area in zip(target["boxes"].numpy(), m, target["area"].numpy()):
            ys, xs = np.nonzero(mask)
            assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
            assert area == mask.sum()
        assert np.array_equal(target["semantic"].numpy() > 0, m.any(0))


def test_semantic_item_contract_and_reproducibility(sample_annotations: Path, sample_images: Path) -> None:
    ds = SemanticDataset(sample_annotations, sample_images, crop_size=(64, 96), augment=True, seed=1)
    image, target = ds[2]
    assert image.dtype == torch.float32 and image.shape == (1, 64, 96)
    assert target["semantic"].dtype == torch.int64 and target["semantic"].shape == (64, 96)
    assert set(target["semantic"].unique().tolist()) <= {0, 1, 2}
    again, _ = ds[2]
    assert image.equal(again)
    ds.set_epoch(1)
    assert not ds[2][0].equal(image)


def test_cell_type_filter_collate_and_workers(sample_annotations: Path, sample_images: Path) -> None:
    ds = InstanceDataset(sample_annotations, sample_images, cell_types=["mcf7", "BT-474"], crop_size=64,
                         augment=True)
    assert len(ds) == 4 and {ds.coco.cell_type(i) for i in ds.coco.image_ids} == {"MCF7", "BT474"}
    images, targets = collate_instances([ds[0], ds[1]])
    assert images.shape == (2, 1, 64, 64) and len(targets) == 2
    loader = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate_instances)
    batches = [b[0] for b in loader]
    assert torch.cat(batches).equal(torch.stack([ds[i][0] for i in range(len(ds))]))
    with pytest.raises(ValueError, match="one size"):
        collate_instances([(torch.zeros(1, 4, 4), {}), (torch.zeros(1, 4, 5), {})])
