"""Mask targets from polygons as detectron2 rasterises them (PolygonMasks.crop_and_resize), the MaskIoU
area ratio, and polygons carried through the dataset's crop and dihedral transform."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from cellseg_nb.data.datasets import InstanceDataset
from cellseg_nb.data.polygons import clip_polygon, transform_polygon
from cellseg_nb.data.transforms import AugmentConfig, Geometry, apply_geometry
from cellseg_nb.data.geometry import polygon_area
from cellseg_nb.models.centermask.proposals import mask_targets_and_ratios, polygon_mask_targets_and_ratios

RECT = np.array([2.0, 2.0, 10.0, 2.0, 10.0, 6.0, 2.0, 6.0])  # x 2..10, y 2..6: area 32


def test_rectangle_targets_and_ratios_by_hand() -> None:
    boxes = torch.tensor([[2.0, 2.0, 10.0, 6.0], [2.0, 2.0, 6.0, 6.0], [6.0, 2.0, 10.0, 6.0]])
    targets, ratios = polygon_mask_targets_and_ratios([[RECT]], torch.tensor([0, 0, 0]), boxes, 28)
    # the polygon fills each box (or overfills it): every target pixel is on
    assert targets.shape == (3, 28, 28) and bool(targets.eq(1).all())
    # ratio = pixels of the polygon on the box's own grid / polygon area: 32/32, 16/32, 16/32
    assert ratios.tolist() == pytest.approx([1.0, 0.5, 0.5])


def test_targets_match_pycocotools_rasterisation_of_the_polygon_crop() -> None:
    """Independent reference: shift and scale the polygon into a 28x28 grid by hand and let pycocotools
    rasterise it; and the bitmask path (RoIAlign of the full mask) agrees on most pixels."""
    tri = np.array([3.0, 1.0, 17.0, 4.0, 6.0, 15.0])
    box = (1.5, 0.5, 18.0, 16.0)
    ref_poly = [(tri[0::2] - box[0]) * 28 / (box[2] - box[0]), (tri[1::2] - box[1]) * 28 / (box[3] - box[1])]
    flat = np.stack(ref_poly, 1).reshape(-1).tolist()
    reference = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([flat], 28, 28)))
    targets, ratios = polygon_mask_targets_and_ratios([[tri]], torch.tensor([0]), torch.tensor([box]), 28)
    assert np.array_equal(targets[0].numpy(), reference)
    # ratio reference: rasterise the shifted polygon on the 16 x 15 box grid with pycocotools
    shifted = (tri.reshape(-1, 2) - box[:2]).reshape(-1).tolist()
    inside = mask_utils.area(mask_utils.frPyObjects([shifted], 15, 16)).sum()
    assert polygon_area(tri) == pytest.approx(0.5 * abs((17 - 3) * (15 - 1) - (6 - 3) * (4 - 1)))
    assert float(ratios[0]) == pytest.approx(min(inside / polygon_area(tri), 1.0), rel=1e-6)
    full = torch.from_numpy(mask_utils.decode(mask_utils.frPyObjects([tri.tolist()], 20, 20))[..., 0])[None]
    bitmask, _ = mask_targets_and_ratios(full, torch.tensor([0]), torch.tensor([box]), 28)
    assert (bitmask[0] == targets[0]).float().mean() > 0.9


def test_clip_polygon_by_hand() -> None:
    half = clip_polygon(RECT, 0.0, 0.0, 6.0, 20.0)
    assert polygon_area(half) == pytest.approx(16.0)
    assert clip_polygon(RECT, 20.0, 20.0, 30.0, 30.0).size == 0
    tri = np.array([0.0, 0.0, 10.0, 0.0, 0.0, 10.0])  # area 50; cut at y = 5 keeps a trapezoid of 37.5
    assert polygon_area(clip_polygon(tri, -1.0, -1.0, 20.0, 5.0)) == pytest.approx(37.5)


@pytest.mark.parametrize("geom", [Geometry(k, h, v) for k in range(4) for h in (False, True) for v in (False, True)])
def test_transform_polygon_matches_apply_geometry(geom: Geometry) -> None:
    """A polygon mapped by transform_polygon rasterises to the pixel-transformed mask (asymmetric shape
    with integer corners, so pycocotools' rasterisation is exact)."""
    h, w = 12, 17
    poly = np.array([1.0, 2.0, 9.0, 2.0, 9.0, 5.0, 4.0, 5.0, 4.0, 10.0, 1.0, 10.0])  # an L shape
    mask = mask_utils.decode(mask_utils.frPyObjects([poly.tolist()], h, w))[..., 0]
    moved = apply_geometry(mask, geom)
    mh, mw = moved.shape
    out = mask_utils.decode(mask_utils.frPyObjects([transform_polygon(poly, geom, h, w).tolist()], mh, mw))[..., 0]
    assert np.array_equal(out, moved)


def test_dataset_carries_polygons_through_crop_and_augmentation(sample_annotations, sample_images) -> None:
    ds = InstanceDataset(sample_annotations, sample_images, crop_size=160, seed=3,
                         augment=AugmentConfig(hflip=True, vflip=True, rot90=True))
    for index in range(3):
        image, target = ds[index]
        polys, masks = target["polygons"], target["masks"].numpy()
        assert len(polys) == len(masks) > 0
        h, w = image.shape[-2:]
        for parts, mask in zip(polys, masks):
            raster = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([p.tolist() for p in parts], h, w)))
            inter, union = np.logical_and(raster, mask).sum(), np.logical_or(raster, mask).sum()
            assert inter / union > 0.6 or union < 40  # same cell; tiny slivers at the crop edge differ most


def test_centermask_trains_on_polygon_targets(sample_annotations, sample_images, monkeypatch) -> None:
    from cellseg_nb.models.centermask import build_centermask
    from cellseg_nb.models.centermask import model as model_module

    calls = []
    real = model_module.polygon_mask_targets_and_ratios
    monkeypatch.setattr(model_module, "polygon_mask_targets_and_ratios",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    torch.manual_seed(0)
    model = build_centermask("centermask_lite_v19_slim_dw", train_min_sizes=(128,), train_max_size=128,
                             roi_batch_size_per_image=64, frozen_bn=False)
    model.train()
    ds = InstanceDataset(sample_annotations, sample_images, crop_size=128, seed=1)
    image, target = ds[0]
    losses = model(image[None], [target])
    assert calls and all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
