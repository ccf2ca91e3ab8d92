"""Density modes and bad input: clear errors naming the type and the numbers; matched beats uniform."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from cellseg_nb.cli import main
from cellseg_nb.data.coco import CocoDataset, load_coco
from cellseg_nb.data.layout import ImageLocator
from cellseg_nb.errors import DataError
from cellseg_nb.synth import (DensityConfig, DensitySampler, SynthConfig, build_cell_bank,
                              check_confluence_range, compare_sets, compose_image, generate_synthetic_dataset)
from cellseg_nb.synth.bank import BankCell, CellBank, cut_cell
from cellseg_nb.synth.density import Target


def _without_cells_of(dataset: CocoDataset, cell_type: str, keep: int = 0) -> CocoDataset:
    ids = {i for i in dataset.image_ids if dataset.cell_type(i) == cell_type}
    anns, kept = [], 0
    for a in dataset.annotations:
        if a["image_id"] in ids:
            if kept >= keep:
                continue
            kept += 1
        anns.append(a)
    return CocoDataset(images=copy.deepcopy(dataset.images), annotations=anns, path=dataset.path)


def test_type_without_cells_is_a_data_error(sample_annotations: Path, sample_images: Path, tmp_path: Path) -> None:
    dataset = _without_cells_of(load_coco(sample_annotations), "Huh7")
    with pytest.raises(DataError, match=r"Huh7: 1 image\(s\) but no annotated cells"):
        generate_synthetic_dataset(dataset, sample_images, tmp_path, SynthConfig(factor=1, cell_types=("Huh7",)))


def test_type_with_too_few_cells_is_a_data_error(sample_annotations: Path, sample_images: Path) -> None:
    dataset = _without_cells_of(load_coco(sample_annotations), "Huh7", keep=3)
    with pytest.raises(DataError, match=r"Huh7: only \d usable cell\(s\) of 3 annotated.*at least 5"):
        build_cell_bank(dataset, ImageLocator(sample_images), "Huh7", rng=np.random.default_rng(0))


def test_density_beyond_the_bank_is_a_data_error() -> None:
    image = np.full((60, 60), 128, np.uint8)
    square = np.array([[20.0, 20.0], [30.0, 20.0], [30.0, 30.0], [20.0, 30.0]])
    pixels, alpha, poly = cut_cell(image, square, 4)
    bank = CellBank("BV2", [BankCell(
        pixels, alpha, poly, 100.0, "x.tif", 1)] * 6, [6], [0.1])
    with pytest.raises(DataError, match=r"BV2: density mode 'uniform' asks for up to 5000 cells.*only 6 usable"):
        DensitySampler(bank, DensityConfig(count_range=(10, 5000)), 704 * 520)
    sampler = DensitySampler(bank, DensityConfig(count_range=(10, 100)), 704 * 520)
    assert all(10 <= sampler.sample(np.random.default_rng(s)).count <= 100 for s in range(20))


@pytest.mark.parametrize("value, message", [((0.6, 0.3), r"\(0.6, 0.3\) is impossible: need 0 < lo <= hi"),
                                            ((0.0, 0.3), r"\(0.0, 0.3\) is impossible"),
                                            ((0.5, 0.99), r"\(0.5, 0.99\) is impossible: at most 0.95")])
def test_impossible_confluence_range(value, message) -> None:
    with pytest.raises(ValueError, match=message):
        check_confluence_range(value)
    with pytest.raises(ValueError, match=message):
        DensityConfig(mode="range", confluence_range=value)


def test_cli_rejects_conflicting_and_impossible_density(tmp_path: Path, capsys) -> None:
    (tmp_path / "a.json").write_text("{}")
    args = ["synth", "--annotations", str(tmp_path / "a.json"), "--images", str(tmp_path),
            "--dest", str(tmp_path / "out")]
    assert main(args + ["--density", "matched", "--confluence-range", "0.1,0.2"]) == 2
    with pytest.raises(SystemExit) as info:      # refused while parsing, before anything is read
        main(args + ["--confluence-range", "0.4,0.2"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "exclude each other" in err and "LO <= HI, got 0.4,0.2" in err


def test_range_mode_reaches_its_confluence(sample_annotations: Path, sample_images: Path) -> None:
    dataset = load_coco(sample_annotations)
    bank = build_cell_bank(dataset, ImageLocator(sample_images), "BT474", rng=np.random.default_rng(0))
    background = np.full((520, 704), 128.0, np.float32)
    composed = compose_image(background, bank, Target(confluence=0.3), np.random.default_rng(1))
    union = np.zeros((520, 704), bool)
    for cell in composed.cells:
        union |= cell.full_mask(520, 704)
    assert not composed.shortfall
    assert composed.confluence == pytest.approx(union.mean())
    assert 0.3 <= union.mean() < 0.32


@pytest.mark.slow
def test_matched_density_is_closer_to_the_real_data_than_uniform(demo_root: Path, tmp_path: Path) -> None:
    """On the demo set (train + val + test: 4 real images per type, 12 synthetic per type and mode):
    the density features (count, confluence) of matched are closer to the real ones than uniform's by
    Frechet distance and MMD, per type and overall, and so is the whole feature vector by Frechet."""
    parts = [load_coco(demo_root / "annotations" / "LIVECell" / f"livecell_coco_{s}.json")
             for s in ("train", "val", "test")]
    source = CocoDataset(images=[i for p in parts for i in p.images],
                         annotations=[a for p in parts for a in p.annotations], path=parts[0].path)
    images = demo_root / "images"
    types = ("BT474", "MCF7", "SHSY5Y")
    dist = {}
    for mode in ("uniform", "matched"):
        res = generate_synthetic_dataset(source, images, tmp_path / mode,
                                         SynthConfig(factor=3, seed=0, cell_types=types, link_originals=False,
                                                     density=DensityConfig(mode=mode)))
        table = compare_sets(source, images, res.synthetic_json, tmp_path / mode / "images").distances
        dist[mode] = table.set_index(["features", "cell_type"])
    for t in (*types, "all"):
        for metric in ("frechet", "mmd2"):
            assert dist["matched"].loc[("density", t), metric] < dist["uniform"].loc[("density", t), metric], (t, metric)
    assert dist["matched"].loc[("all", "all"), "frechet"] < dist["uniform"].loc[("all", "all"), "frechet"]
