"""Semantic overlap rule on hand-made masks, boxes, pycocotools agreement and the on-disk cache."""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from cellseg_nb.data.cache import TargetCache
from cellseg_nb.data.geometry import boxes_from_masks
from cellseg_nb.data.targets import instance_masks, semantic_target


def _two_overlapping() -> np.ndarray:
    masks = np.zeros((2, 20, 24), np.uint8)
    masks[0, 2:12, 2:12] = 1   # rows 2..11, cols 2..11
    masks[1, 2:12, 9:19] = 1   # rows 2..11, cols 9..18: overlaps cols 9..11
    return masks


def test_semantic_overlap_rule_hand_computed() -> None:
    expected = np.zeros((20, 24), np.uint8)
    # each square: pixels within 2 px (Chebyshev) of its own edge are boundary, the rest interior
    for c0, c1 in ((2, 11), (9, 18)):
        for r in range(2, 12):
            for c in range(c0, c1 + 1):
                depth = min(r - 2, 11 - r, c - c0, c1 - c) + 1
                expected[r, c] = max(expected[r, c], 2 if depth <= 2 else 1)
    expected[2:12, 9:12] = 2  # covered by both cells
    sem = semantic_target(_two_overlapping(), boundary_width=2)
    assert np.array_equal(sem, expected)
    assert (sem == 1).sum() == 2 * 6 * 5  # rows 4..9 x cols 4..8 and cols 12..16


def test_touching_cells_are_separated_and_image_border_is_not_an_edge() -> None:
    masks = np.zeros((2, 10, 10), np.uint8)
    masks[0, 0:10, 0:5] = 1
    masks[1, 0:10, 5:10] = 1
    sem = semantic_target(masks, boundary_width=1)
    assert (sem[:, 4] == 2).all() and (sem[:, 5] == 2).all()  # the shared edge
    assert (sem[:, 0:4] == 1).all() and (sem[:, 6:] == 1).all()  # image border gives no boundary


def test_boxes_from_masks_hand_computed() -> None:
    boxes = boxes_from_masks(_two_overlapping())
    assert boxes.tolist() == [[2, 2, 12, 12], [9, 2, 19, 12]]
    assert boxes_from_masks(np.zeros((1, 5, 5), np.uint8)).tolist() == [[0, 0, 0, 0]]


def test_polygon_masks_match_pycocotools() -> None:
    anns = [{"segmentation": [[3.2, 4.7, 17.9, 5.1, 12.4, 15.8]]},
            {"segmentation": [[1, 1, 8, 1, 8, 8, 1, 8], [10, 10, 14, 10, 14, 14]]}]
    masks = instance_masks(anns, 20, 24)
    for m, a in zip(masks, anns):
        ref = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(a["segmentation"], 20, 24)))
        assert np.array_equal(m, ref) and m.any()


def test_cache_round_trip_and_corrupt_file_rebuilt(tmp_path) -> None:
    ann_file = tmp_path / "a.json"
    ann_file.write_text("{}")
    anns = [{"segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]]}, {"segmentation": [[9, 3, 18, 3, 18, 11, 9, 11]]}]
    reference = instance_masks(anns, 20, 24)
    first = TargetCache(tmp_path / "c", ann_file).get(7, anns, 20, 24)
    path = TargetCache(tmp_path / "c", ann_file).path_for(7)
    assert path.is_file()
    again = TargetCache(tmp_path / "c", ann_file).get(7, anns, 20, 24)
    assert np.array_equal(again.masks(), reference) and np.array_equal(again.semantic, first.semantic)
    assert np.array_equal(again.semantic, semantic_target(reference))
    path.write_bytes(b"not an npz")
    rebuilt = TargetCache(tmp_path / "c", ann_file).get(7, anns, 20, 24)
    assert np.array_equal(rebuilt.masks(), reference)
    assert TargetCache(tmp_path / "c", ann_file).get(7, anns, 20, 24).masks().shape == (2, 20, 24)
    window, idx = again.masks_in_window(5, 10, 10, 10)
    assert np.array_equal(window, reference[idx][:, 5:15, 10:20]) and idx.tolist() == [0, 1]
    ann_file.write_text('{"changed": 1}')  # new size -> new key -> new folder
    assert TargetCache(tmp_path / "c", ann_file).path_for(7) != path


def test_in_memory_dataset_cache_key_follows_content() -> None:
    from cellseg_nb.data.cache import content_key

    a = [{"id": 1, "segmentation": [[0, 0, 4, 0, 4, 4]]}]
    b = [{"id": 1, "segmentation": [[0, 0, 5, 0, 5, 5]]}]
    assert content_key(a) == content_key([dict(a[0])]) and content_key(a) != content_key(b)
