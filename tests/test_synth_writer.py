"""End to end on the real LIVECell sample: annotations match the pasted pixels, the loader reads the
output unchanged, the same seed gives the same bytes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cellseg_nb.celltypes import parse_file_name
from cellseg_nb.data.coco import load_coco
from cellseg_nb.data.images import read_image
from cellseg_nb.data.layout import ImageLocator
from cellseg_nb.synth import DensityConfig, SynthConfig, generate_synthetic_dataset


@pytest.fixture(scope="module")
def sample_synth(sample_annotations: Path, sample_images: Path, tmp_path_factory: pytest.TempPathFactory):
    dest = tmp_path_factory.mktemp("synth_sample")
    kept: dict[str, object] = {}
    result = generate_synthetic_dataset(sample_annotations, sample_images, dest,
                                        SynthConfig(factor=2, seed=7, density=DensityConfig(mode="matched")),
                                        on_image=lambda rec, composed: kept.__setitem__(rec["file_name"], composed))
    return result, kept


def test_every_annotation_rasterises_to_its_pasted_footprint(sample_synth) -> None:
    result, kept = sample_synth
    synthetic = load_coco(result.synthetic_json)
    coco = synthetic.to_pycocotools()  # independent rasterisation of what is on disk
    assert len(synthetic.images) == 10 and len(kept) == 10
    n_cells = 0
    for rec in synthetic.images:
        composed = kept[rec["file_name"]]
        anns = synthetic.annotations_for(rec["id"])
        assert len(anns) == len(composed.cells) > 0
        for ann, cell in zip(anns, composed.cells):
            mask = coco.annToMask(ann).astype(bool)
            assert np.array_equal(mask, cell.full_mask(rec["height"], rec["width"])), (rec["file_name"], ann["id"])
            n_cells += 1
        # the cell pasted last lies on top: its footprint holds exactly the pixels pasted there
        on_disk = read_image(result.dest / "images" / "livecell_train_val_images" /
                             parse_file_name(rec["file_name"]).cell_type / rec["file_name"])
        last = composed.cells[-1]
        x0, y0 = last.origin
        h, w = last.footprint.shape
        got = on_disk[y0:y0 + h, x0:x0 + w][last.footprint]
        assert np.array_equal(got, np.clip(np.rint(last.values[last.footprint]), 0, 255).astype(np.uint8))
    assert n_cells == result.cells_written


def test_output_is_a_livecell_dataset_the_loader_reads(sample_synth, sample_annotations: Path) -> None:
    result, _ = sample_synth
    original = load_coco(sample_annotations)
    extended = load_coco(result.extended_json)
    synthetic = load_coco(result.synthetic_json)
    assert len(extended.images) == len(original.images) * 3  # originals + factor 2
    assert len(extended.annotations) == len(original.annotations) + len(synthetic.annotations)
    ids = [img["id"] for img in extended.images]
    assert len(set(ids)) == len(ids)
    assert len({a["id"] for a in extended.annotations}) == len(extended.annotations)
    locator = ImageLocator(result.dest / "images")
    for rec in extended.images:
        meta = parse_file_name(rec["file_name"])
        image = read_image(locator.resolve(rec["file_name"]), expected_size=(rec["width"], rec["height"]))
        assert image.dtype == np.uint8
        if meta.synthetic:
            assert parse_file_name(rec["synthetic_source"]).cell_type == meta.cell_type
    for ann in synthetic.annotations:
        poly = np.asarray(ann["segmentation"][0]).reshape(-1, 2)
        assert poly.min() >= 0 and poly[:, 0].max() <= 704 and poly[:, 1].max() <= 520
        x, y, w, h = ann["bbox"]
        assert x == poly[:, 0].min() and x + w == pytest.approx(poly[:, 0].max())
    # cells cut by the border exist and were clipped to it
    assert any(np.asarray(a["segmentation"][0]).reshape(-1, 2)[:, 0].min() == 0.0 for a in synthetic.annotations)
    summary = json.loads(result.summary_json.read_text())
    assert summary["images_written"] == 10 and set(summary["per_type"]) == {"BT474", "Huh7", "MCF7"}


def test_overlap_is_bounded(sample_synth) -> None:
    _, kept = sample_synth
    for composed in kept.values():
        h, w = composed.image.shape
        top = np.zeros((h, w), np.int32)
        for k, cell in enumerate(composed.cells, start=1):
            top[cell.full_mask(h, w)] = k
        for k, cell in enumerate(composed.cells, start=1):
            size = int(cell.footprint.sum())
            assert (top == k).sum() >= 0.85 * size - 1e-9  # max_overlap 0.15: each cell keeps 85 % visible


def test_same_seed_same_bytes_other_seed_differs(sample_annotations: Path, sample_images: Path, tmp_path: Path) -> None:
    def run(seed: int, name: str) -> tuple[bytes, bytes]:
        res = generate_synthetic_dataset(sample_annotations, sample_images, tmp_path / name,
                                         SynthConfig(factor=1, seed=seed, cell_types=("Huh7",), link_originals=False))
        tif = next((tmp_path / name / "images").rglob("*_synth01.tif")).read_bytes()
        return tif, res.synthetic_json.read_bytes()

    first, again, other = run(3, "a"), run(3, "b"), run(4, "c")
    assert first == again
    assert first[0] != other[0] and first[1] != other[1]


def test_demo_set_annotations_match_footprints(demo_root: Path, tmp_path: Path) -> None:
    """The same exactness on the demo set, with right-angle rotations and a confluence range."""
    from cellseg_nb.synth import ComposeConfig

    kept: dict[str, object] = {}
    ann = demo_root / "annotations" / "LIVECell" / "livecell_coco_train.json"
    config = SynthConfig(factor=1, seed=2, cell_types=("BV2", "SKOV3"), link_originals=False,
                         density=DensityConfig(mode="range", confluence_range=(0.1, 0.3)),
                         compose=ComposeConfig(rotation="right_angles"))
    result = generate_synthetic_dataset(ann, demo_root / "images", tmp_path, config,
                                        on_image=lambda rec, composed: kept.__setitem__(rec["file_name"], composed))
    synthetic = load_coco(result.synthetic_json)
    coco = synthetic.to_pycocotools()
    assert len(synthetic.images) == 4
    for rec in synthetic.images:
        composed = kept[rec["file_name"]]
        assert 0.1 <= composed.confluence <= 0.32 and not composed.shortfall
        for ann_rec, cell in zip(synthetic.annotations_for(rec["id"]), composed.cells, strict=True):
            assert np.array_equal(coco.annToMask(ann_rec).astype(bool), cell.full_mask(rec["height"], rec["width"]))


def test_an_image_listed_twice_is_synthesised_once(sample_annotations: Path, sample_images: Path, tmp_path: Path) -> None:
    from cellseg_nb.data.coco import CocoDataset

    source = load_coco(sample_annotations).filter_cell_types(["Huh7"])
    twin = dict(source.images[0], id=10**9)
    dataset = CocoDataset(images=source.images + [twin], annotations=source.annotations, path=source.path)
    result = generate_synthetic_dataset(dataset, sample_images, tmp_path, SynthConfig(factor=2, link_originals=False))
    synthetic = load_coco(result.synthetic_json)
    names = [img["file_name"] for img in synthetic.images]
    assert sorted(names) == ["Huh7_Phase_A10_1_02d12h00m_3_synth01.tif", "Huh7_Phase_A10_1_02d12h00m_3_synth02.tif"]
    assert len(load_coco(result.extended_json).images) == 4  # both original records + 2 synthetic
