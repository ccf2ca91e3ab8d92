"""CenterMask parts against hand-worked cases: FCOS locations, target assignment, centerness, GIoU, focal
normalisation, adaptive RoI levels, multi-level pooling, mask targets, paste-back, resizing and tiling."""

from __future__ import annotations

import math

import pytest
import torch

from cellseg_nb.models.centermask.fcos_losses import fcos_losses, ltrb_giou_loss
from cellseg_nb.models.centermask.fcos_targets import assign_targets, centerness_target, level_locations
from cellseg_nb.models.centermask.inputs import needs_tiling, resized_size, tile_windows
from cellseg_nb.models.centermask.paste import clip_boxes, paste_masks
from cellseg_nb.models.centermask.proposals import mask_targets_and_ratios
from cellseg_nb.models.centermask.roi_assign import assign_levels_by_ratio, pool_rois

SIZES = [(-1.0, 64.0), (64.0, 128.0)]


def test_locations_are_cell_centres() -> None:
    loc = level_locations(2, 3, 8)
    assert loc.tolist() == [[4, 4], [12, 4], [20, 4], [4, 12], [12, 12], [20, 12]]


def _positives(targets, locations, level: int, box: int) -> set[tuple[int, int]]:
    offset = sum(len(loc) for loc in locations[:level])
    pts = locations[level]
    idx = (targets.matched[offset:offset + len(pts)] == box).nonzero(as_tuple=True)[0]
    return {(int(pts[i, 0]), int(pts[i, 1])) for i in idx}


def test_target_assignment_by_level_center_sampling_and_smallest_area() -> None:
    # 128x128 image: P3 16x16 (stride 8), P4 8x8 (stride 16)
    locations = [level_locations(16, 16, 8), level_locations(8, 8, 16)]
    boxes = torch.tensor([[0.0, 0.0, 24.0, 24.0],    # D: contains A
                          [0.0, 0.0, 16.0, 16.0],    # A
                          [0.0, 40.0, 128.0, 72.0]])  # B: 128 wide -> P4
    labels = torch.tensor([0, 0, 0])
    t = assign_targets(locations, [8, 16], SIZES, boxes, labels, num_classes=1, radius=1.5)
    # A: centre (8,8), square [-4,20] clipped to the box (0,16): P3 cells at 4 and 12, strictly inside
    assert _positives(t, locations, 0, 1) == {(4, 4), (12, 4), (4, 12), (12, 12)}
    # D: centre (12,12), square [0,24]; the 4 cells shared with A go to A (smaller area)
    assert _positives(t, locations, 0, 0) == {(20, 4), (20, 12), (4, 20), (12, 20), (20, 20)}
    # B: P3 candidates (x 60,68) have max side 68 > 64; on P4 square x (40,88), y (40,72) -> x 56,72, y 56
    assert _positives(t, locations, 0, 2) == set()
    assert _positives(t, locations, 1, 2) == {(56, 56), (72, 56)}
    assert _positives(t, locations, 1, 0) == set() and _positives(t, locations, 1, 1) == set()
    # regression target of cell (12,12) w.r.t. A: l,t,r,b = 12,12,4,4 pixels = 1.5,1.5,0.5,0.5 strides
    i = 1 * 16 + 1
    assert t.reg[i].tolist() == [1.5, 1.5, 0.5, 0.5]
    assert int(t.labels[i]) == 0
    n_pos = int((t.labels == 0).sum())
    assert n_pos == 4 + 5 + 2 and int((t.labels == 1).sum()) == len(t.labels) - n_pos


def test_no_boxes_gives_all_background() -> None:
    locations = [level_locations(4, 4, 8)]
    t = assign_targets(locations, [8], SIZES[:1], torch.zeros((0, 4)), torch.zeros((0,), dtype=torch.int64), 1)
    assert (t.labels == 1).all() and (t.matched == -1).all()


def test_centerness_hand_values() -> None:
    ltrb = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0], [2.0, 1.0, 2.0, 3.0]])
    expected = [1.0, math.sqrt(1 / 3 * 2 / 4), math.sqrt(1.0 * 1 / 3)]
    assert centerness_target(ltrb).tolist() == pytest.approx(expected)


def test_giou_plus_one_convention_hand_values() -> None:
    same = ltrb_giou_loss(torch.tensor([[1.0, 1, 1, 1]]), torch.tensor([[1.0, 1, 1, 1]]))
    assert float(same) == pytest.approx(0.0, abs=1e-6)
    # pred 2x2, target 4x4 around the same point: I=4, U=16, IoU=(4+1)/(16+1), C=U -> loss 12/17
    nested = ltrb_giou_loss(torch.tensor([[1.0, 1, 1, 1]]), torch.tensor([[2.0, 2, 2, 2]]))
    assert float(nested) == pytest.approx(12 / 17, rel=1e-5)
    # pred x[-1,1], target x[0,2] (h 2 both): I=2, U=6, IoU=3/7, C=6 -> loss 4/7; weights multiply rows
    shifted = ltrb_giou_loss(torch.tensor([[1.0, 1, 1, 1]]), torch.tensor([[0.0, 1, 2, 1]]), torch.tensor([0.5]))
    assert float(shifted) == pytest.approx(0.5 * 4 / 7, rel=1e-5)
    # corner boxes touching the shared point: pred x[-2,0] y[0,2], target x[0,2] y[-2,0]: I=0, U=8,
    # IoU=(0+1)/(8+1), enclosing 4x4=16 -> GIoU = 1/9 - 8/16
    corner = ltrb_giou_loss(torch.tensor([[2.0, 0, 0, 2]]), torch.tensor([[0.0, 2, 2, 0]]))
    assert float(corner) == pytest.approx(1 - (1 / 9 - 8 / 16), rel=1e-5)


def test_focal_loss_is_normalised_by_positives() -> None:
    logits = torch.zeros((2, 1))
    labels = torch.tensor([0, 1])  # one positive, one background (K = 1)
    reg = torch.ones((2, 4))
    losses = fcos_losses(logits, reg, torch.zeros(2), labels, reg.clone(), num_classes=1)
    pos = 0.25 * 0.5 ** 2 * math.log(2)
    neg = 0.75 * 0.5 ** 2 * math.log(2)
    assert float(losses["loss_fcos_cls"]) == pytest.approx(pos + neg, rel=1e-5)
    assert float(losses["loss_fcos_loc"]) == pytest.approx(0.0, abs=1e-6)
    assert float(losses["loss_fcos_ctr"]) == pytest.approx(math.log(2), rel=1e-5)  # BCE(0 logit, target 1)


def test_adaptive_level_assignment() -> None:
    side = torch.tensor([6000.0, 5000.0, 3000.0, 2500.0, 100.0, 20000.0]).sqrt()
    boxes = torch.stack([torch.zeros_like(side), torch.zeros_like(side), side, side], 1)
    # image 100x100: > 1/2 -> P5, (1/4, 1/2] -> P4, <= 1/4 -> P3, larger than the image -> clamp P5
    assert assign_levels_by_ratio(boxes, 100 * 100).tolist() == [2, 1, 1, 0, 0, 2]


def test_pool_rois_reads_each_box_from_its_level() -> None:
    features = [torch.full((1, 2, 16, 16), 1.0), torch.full((1, 2, 8, 8), 2.0), torch.full((1, 2, 4, 4), 3.0)]
    boxes = torch.tensor([[10.0, 10.0, 100.0, 100.0], [0.0, 0.0, 60.0, 60.0], [4.0, 4.0, 20.0, 20.0]])
    out = pool_rois(features, [8, 16, 32], [boxes], [128 * 128], 7)
    assert out.shape == (3, 2, 7, 7)
    # areas 8100 (> 1/4 of 16384, <= 1/2 -> P4), 3600 (P3), 256 (P3)
    assert out[:, 0, 3, 3].tolist() == [2.0, 1.0, 1.0]


def test_mask_targets_and_area_ratio() -> None:
    masks = torch.zeros((1, 12, 12), dtype=torch.uint8)
    masks[0, 2:6, 2:10] = 1  # 32 pixels
    boxes = torch.tensor([[2.0, 2.0, 10.0, 6.0], [2.0, 2.0, 6.0, 6.0], [0.0, 0.0, 12.0, 4.0]])
    targets, ratios = mask_targets_and_ratios(masks, torch.tensor([0, 0, 0]), boxes, 28)
    # RoIAlign(aligned=True), one sample per bin: bin i of a box edge at pixel boundary 2 samples the mask
    # edge with weight 0.5 + (i + 0.5) * (box side / 28) (capped at 1); a target is on where the product of
    # the x and y weights is >= 0.5. Box 0 (8 x 4 px): weights x .643, .929; y .571, .714, .857 ->
    # off at rows 0-1 of the outer columns. Box 1 (4 x 4): .571, .714, .857 -> off where the product < .5.
    zeros0 = {(0, 0), (1, 0), (0, 27), (1, 27), (26, 0), (27, 0), (26, 27), (27, 27)}
    zeros1 = {(0, 0), (0, 1), (0, 2), (1, 0), (2, 0), (25, 0), (26, 0), (27, 0), (27, 1), (27, 2)}
    for k, zeros in ((0, zeros0), (1, zeros1)):
        off = {tuple(p) for p in (targets[k] == 0).nonzero().tolist()}
        assert off == zeros  # box 1's right edge (x = 6) lies inside the mask (x 2..10): no loss there
    assert ratios.tolist() == pytest.approx([1.0, 0.5, 0.5])
    assert targets[2, :13].sum() == 0 and targets[2, 15:, 6:22].min() == 1  # rows y 2..4 of 0..4, x 2..10 of 0..12


def test_paste_back_hand_cases() -> None:
    ones = torch.ones((1, 28, 28))
    out = paste_masks(ones, torch.tensor([[2.0, 3.0, 6.0, 8.0]]), 10, 12)
    expected = torch.zeros((10, 12), dtype=torch.bool)
    expected[3:8, 2:6] = True
    assert torch.equal(out.dense()[0], expected)
    assert out.windows.tolist() == [[2, 3, 6, 8]] and out.crops[0].shape == (5, 4)  # box resolution
    # left half of the mask on: columns 0..13 of 28 over an 8-px box -> image columns 0..3
    half = torch.zeros((1, 28, 28))
    half[0, :, :14] = 1
    out = paste_masks(half, torch.tensor([[0.0, 0.0, 8.0, 8.0]]), 8, 8).dense()
    assert out[0, :, :4].all() and not out[0, :, 4:].any()
    empty = paste_masks(ones, torch.tensor([[20.0, 20.0, 30.0, 30.0]]), 8, 8)
    assert not empty.dense().any() and empty.shape == (1, 8, 8)


def test_paste_into_the_clipped_box_as_detectron2() -> None:
    """detectron2 pastes the 28x28 mask over the *clipped* box. Box (-4, 0, 4, 8) in an 8 x 8 image is
    clipped to (0, 0, 4, 8): the mask's left half (columns 0..13) is stretched over image columns 0..3, so
    pixel centres x + 0.5 = 0.5, 1.5 map to mask columns 3.5, 10.5 (on) and 2.5, 3.5 -> 17.5, 24.5 (off);
    column 1.5 -> mask x = 1.5/4*28 - 0.5 = 10 (on). Image column 2 (x = 2.5 -> mask 17): off."""
    half = torch.zeros((1, 28, 28))
    half[0, :, :14] = 1
    box = torch.tensor([[-4.0, 0.0, 4.0, 8.0]])
    out = paste_masks(half, clip_boxes(box, 8, 8), 8, 8).dense()[0]
    expected = torch.zeros((8, 8), dtype=torch.bool)
    expected[:, :2] = True
    assert torch.equal(out, expected)
    # a bilinear boundary case by hand: a 2 x 2 mask [[1, 0], [1, 0]] over box (0, 0, 4, 2); pixel
    # centre x = 1.5 -> mask x = 1.5 / 4 * 2 - 0.5 = 0.25 -> 0.75 * 1 + 0.25 * 0 = 0.75 (on);
    # x = 2.5 -> 0.75 -> 0.25 (off); x = 0.5 -> -0.25: zero padding weight 0.25 -> 0.75 (on)
    probs = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    out = paste_masks(probs, torch.tensor([[0.0, 0.0, 4.0, 2.0]]), 2, 4).dense()[0]
    assert out.tolist() == [[True, True, False, False]] * 2


def test_resize_and_tiles() -> None:
    assert resized_size(520, 704, 800, 1333) == (800, 1083)
    assert resized_size(800, 2000, 800, 1333) == (533, 1333)
    assert not needs_tiling(520, 704, 800, 1333) and needs_tiling(1000, 1600, 800, 1333)
    tiles = tile_windows(1000, 1600, 800, 1333, 64)
    assert [(t.y0, t.y1, t.x0, t.x1) for t in tiles] == [(0, 800, 0, 1333), (0, 800, 267, 1600),
                                                         (200, 1000, 0, 1333), (200, 1000, 267, 1600)]
    assert (tiles[0].cy1, tiles[0].cx1, tiles[3].cy0, tiles[3].cx0) == (500.0, 800.0, 500.0, 800.0)
