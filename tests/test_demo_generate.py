"""The demo dataset: LIVECell layout and format, exact annotations, determinism, growth signal, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from cellseg_nb.celltypes import CELL_TYPES, parse_file_name
from cellseg_nb.data.coco import load_coco
from cellseg_nb.data.images import read_image
from cellseg_nb.data.layout import ImageLocator
from cellseg_nb.demo import generate_demo_dataset, generate_image, split_sizes
from cellseg_nb.demo.growth import Acquisition, expected_density
from cellseg_nb.demo.morphology import MORPHOLOGIES
from cellseg_nb.demo.render import to_uint8_median
from cellseg_nb.demo.scene import clip_polygon, rasterize_local, round_vertices
from cellseg_nb.errors import ConfigError

SPLITS = ("train", "val", "test")


def _hand_shoelace(flat: list[float]) -> float:
    pts = list(zip(flat[0::2], flat[1::2]))
    s = 0.0
    for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1]):
        s += x1 * y2 - x2 * y1
    return abs(s) / 2.0


def test_split_sizes_hand_values():
    assert split_sizes(1) == {"train": 1, "val": 1, "test": 1}
    assert split_sizes(2) == {"train": 2, "val": 1, "test": 1}
    assert split_sizes(9) == {"train": 9, "val": 2, "test": 4}
    with pytest.raises(ConfigError):
        split_sizes(0)


def test_layout_and_image_format(demo_root: Path):
    ann_dir = demo_root / "annotations" / "LIVECell"
    assert sorted(p.name for p in ann_dir.iterdir()) == [f"livecell_coco_{s}.json" for s in ("test", "train", "val")]
    locator = ImageLocator(demo_root / "images")
    names = set()
    for split in SPLITS:
        ds = load_coco(ann_dir / f"livecell_coco_{split}.json")
        counts = {}
        for img in ds.images:
            meta = parse_file_name(img["file_name"])
            counts[meta.cell_type] = counts.get(meta.cell_type, 0) + 1
            folder = "livecell_test_images" if split == "test" else "livecell_train_val_images"
            path = locator.resolve(img["file_name"])
            assert path == demo_root / "images" / folder / meta.cell_type / img["file_name"]
            assert img["file_name"] not in names  # train and val share a folder: names must not collide
            names.add(img["file_name"])
            assert meta.elapsed_hours % 4 == 0 and 0 <= meta.elapsed_hours <= 96
            assert (img["width"], img["height"]) == (704, 520)
            assert img["original_filename"] == img["file_name"][:-4] + ".png" and "url" in img
        assert counts == {t: split_sizes(2)[split] for t in CELL_TYPES}
    # one image checked in depth: Pillow sees an 8-bit LZW TIFF whose median is exactly 128
    path = next((demo_root / "images" / "livecell_test_images" / "BV2").glob("*.tif"))
    with Image.open(path) as im:
        assert im.mode == "L" and im.size == (704, 520) and im.info.get("compression") == "tiff_lzw"
    arr = read_image(path, expected_size=(704, 520))
    assert arr.dtype == np.uint8 and np.median(arr) == 128


def test_coco_records_match_livecell_conventions(demo_root: Path):
    path = demo_root / "annotations" / "LIVECell" / "livecell_coco_train.json"
    raw = json.loads(path.read_text())
    assert raw["categories"] == [{"supercategory": "cell", "id": 1, "name": "cell"}]
    assert {"info", "licenses", "images", "annotations"} <= set(raw)
    coco = COCO(str(path))  # pycocotools reads the file as is
    assert len(coco.getAnnIds()) == len(raw["annotations"]) > 100
    for ann in raw["annotations"][:400]:
        assert len(ann["segmentation"]) == 1 and ann["category_id"] == 1 and ann["iscrowd"] == 0
        flat = ann["segmentation"][0]
        assert 3 <= len(flat) // 2 <= 140 and all(isinstance(v, float) for v in flat)
        assert ann["area"] == pytest.approx(_hand_shoelace(flat), rel=1e-9, abs=1e-6)
        xs, ys = flat[0::2], flat[1::2]
        assert ann["bbox"] == pytest.approx([min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)])
        assert min(xs) >= 0 and min(ys) >= 0 and max(xs) <= 704 and max(ys) <= 520


def test_single_cell_files_are_dict_form_and_consistent(demo_root: Path):
    wide = load_coco(demo_root / "annotations" / "LIVECell" / "livecell_coco_val.json")
    total = 0
    for cell_type in CELL_TYPES:
        path = demo_root / "annotations" / "LIVECell_single_cells" / cell_type.lower() / "val.json"
        raw = json.loads(path.read_text())
        assert isinstance(raw["annotations"], dict)  # like LIVECell's own single-cell files
        ds = load_coco(path)
        assert {parse_file_name(i["file_name"]).cell_type for i in ds.images} == {cell_type}
        total += len(ds.annotations)
    assert total == len(wide.annotations)


def test_local_rasterisation_equals_full_image_pycocotools():
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(5, 40))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(5, 25, n)
        xy = round_vertices(np.stack([300.3 + rad * np.cos(ang), 200.7 + rad * np.sin(ang)], 1))
        x0, y0, local = rasterize_local(xy)
        full = mask_utils.decode(mask_utils.frPyObjects([xy.ravel().tolist()], 520, 704))[:, :, 0]
        window = full[y0:y0 + local.shape[0], x0:x0 + local.shape[1]]
        assert full.sum() == window.sum() and np.array_equal(window.astype(bool), local)


def test_clip_polygon_matches_pycocotools_clipping():
    # a polygon sticking out of the top-left corner: clipped polygon == unclipped polygon cut by the image
    xy = np.array([[-20.0, 10.0], [30.0, -15.0], [60.0, 25.0], [25.0, 55.0], [-5.0, 40.0]])
    clipped = clip_polygon(xy, 704.0, 520.0)
    assert clipped[:, 0].min() >= 0 and clipped[:, 1].min() >= 0
    a = mask_utils.decode(mask_utils.frPyObjects([xy.ravel().tolist()], 520, 704))
    b = mask_utils.decode(mask_utils.frPyObjects([clipped.ravel().tolist()], 520, 704))
    inter = np.logical_and(a, b).sum()
    assert inter / np.logical_or(a, b).sum() > 0.97


def test_annotations_outline_the_drawn_cells(demo_root: Path):
    """Pixels under annotations are textured; pixels far from every annotation look like background."""
    from scipy import ndimage as ndi

    ds = load_coco(demo_root / "annotations" / "LIVECell" / "livecell_coco_train.json")
    locator = ImageLocator(demo_root / "images")
    for img in ds.images[::4]:
        arr = read_image(locator.resolve(img["file_name"])).astype(np.float32)
        rles = [mask_utils.frPyObjects(a["segmentation"], 520, 704)[0] for a in ds.annotations_for(img["id"])]
        cells = mask_utils.decode(rles).any(axis=2)
        far = ~ndi.binary_dilation(cells, iterations=8)
        sd = np.sqrt(np.maximum(ndi.uniform_filter(arr * arr, 5) - ndi.uniform_filter(arr, 5) ** 2, 0))
        assert np.median(sd[cells]) > 2.0 * np.median(sd[far]), img["file_name"]
        assert abs(np.median(arr[far]) - 128) <= 2


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path):
    a = generate_demo_dataset(tmp_path / "a", images_per_type=1, seed=7, cell_types=["SkBr3"])
    b = generate_demo_dataset(tmp_path / "b", images_per_type=1, seed=7, cell_types=["skbr3"])
    c = generate_demo_dataset(tmp_path / "c", images_per_type=1, seed=8, cell_types=["SkBr3"])
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    ann = "annotations/LIVECell/livecell_coco_train.json"
    assert (a / ann).read_bytes() != (c / ann).read_bytes()


def test_elapsed_time_drives_confluence():
    morph = MORPHOLOGIES["MCF7"]
    assert expected_density(morph, 96) > 3 * expected_density(morph, 0)
    early, late = [], []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        early.append(len(generate_image("MCF7", Acquisition("E4", 1, 0, 1), rng).polygons))
        rng = np.random.default_rng(100 + seed)
        late.append(len(generate_image("MCF7", Acquisition("E4", 1, 96, 1), rng).polygons))
    assert min(late) > 2 * max(early)


def test_median_is_exactly_128_even_when_it_falls_between_levels():
    img = np.concatenate([np.full(50, 100.0), np.full(50, 101.0)])  # median 100.5 before the fix
    out = to_uint8_median(img.reshape(10, 10))
    assert np.median(out) == 128
    rng = np.random.default_rng(0)
    out = to_uint8_median(rng.normal(90, 30, (52, 70)))
    assert np.median(out) == 128 and out.dtype == np.uint8


def test_cli_writes_dataset(tmp_path: Path, capsys):
    from cellseg_nb.cli import main

    assert main(["demo-data", "--dest", str(tmp_path), "--images-per-type", "1", "--cell-types", "BV-2"]) == 0
    assert "wrote 3 images" in capsys.readouterr().out
    ds = load_coco(tmp_path / "annotations" / "LIVECell" / "livecell_coco_test.json")
    assert [parse_file_name(i["file_name"]).cell_type for i in ds.images] == ["BV2"]
    assert main(["demo-data", "--dest", str(tmp_path), "--cell-types", "HeLa"]) == 2
    with pytest.raises(SystemExit) as info:       # refused while parsing the arguments
        main(["demo-data", "--dest", str(tmp_path), "--images-per-type", "0"])
    assert info.value.code == 2
    with pytest.raises(ConfigError, match="HeLa"):
        generate_demo_dataset(tmp_path, images_per_type=1, cell_types=["HeLa"])


def test_demo_images_resemble_the_real_sample(demo_root: Path, sample_images: Path):
    """Per line, contrast and background noise of demo images stay near the real sample's."""
    from cellseg_nb.demo.measure import image_statistics

    for cell_type in CELL_TYPES:
        real_dir = sample_images / "livecell_train_val_images" / cell_type
        demo_dir = demo_root / "images" / "livecell_train_val_images" / cell_type
        real = [image_statistics(read_image(p)) for p in sorted(real_dir.glob("*.tif"))]
        demo = [image_statistics(read_image(p)) for p in sorted(demo_dir.glob("*.tif"))]
        for key, low, high in (("std", 0.5, 1.6), ("background_noise", 0.75, 1.3), ("foreground_fraction", 0.3, 2.0)):
            ratio = np.mean([d[key] for d in demo]) / np.mean([r[key] for r in real])
            assert low < ratio < high, (cell_type, key, ratio)


@pytest.mark.parametrize("cell_type", ["SHSY5Y", "BV2"])
def test_every_placed_cell_footprint_equals_its_polygon_in_the_full_image(cell_type):
    from cellseg_nb.demo.scene import place_cells

    rng = np.random.default_rng(5)
    cells = place_cells(MORPHOLOGIES[cell_type], 150, 1.0, 704, 520, rng)
    assert len(cells) > 50
    rles = mask_utils.frPyObjects([c.polygon.ravel().tolist() for c in cells], 520, 704)
    full = mask_utils.decode(rles)
    for k, cell in enumerate(cells):
        drawn = np.zeros((520, 704), bool)
        h, w = cell.mask.shape
        drawn[cell.y0:cell.y0 + h, cell.x0:cell.x0 + w] = cell.mask
        assert np.array_equal(drawn, full[:, :, k].astype(bool)), k
