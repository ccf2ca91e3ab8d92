"""Shared fixtures: where the real LIVECell sample lives and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: The 37 genuine LIVECell images (5 annotated) shared beside the repository; never copied into it.
SAMPLE_ROOT = Path(os.environ.get("CELLSEG_SAMPLE_DATA", REPO.parent / "shared" / "data" / "livecell-sample"))
SAMPLE_ANNOTATIONS = SAMPLE_ROOT / "annotations" / "LIVECell" / "livecell_coco_val.json"
SAMPLE_IMAGES = SAMPLE_ROOT / "images"


@pytest.fixture(scope="session")
def sample_root() -> Path:
    """Root of the real LIVECell sample; tests using it skip where it is absent (a user's fresh clone)."""
    if not SAMPLE_ANNOTATIONS.is_file():
        pytest.skip(f"real LIVECell sample not found at {SAMPLE_ROOT} (set CELLSEG_SAMPLE_DATA to its folder)")
    return SAMPLE_ROOT


@pytest.fixture(scope="session")
def sample_annotations(sample_root: Path) -> Path:
    return sample_root / "annotations" / "LIVECell" / "livecell_coco_val.json"


@pytest.fixture(scope="session")
def sample_images(sample_root: Path) -> Path:
    return sample_root / "images"


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated demo dataset (LIVECell layout, 2 images per type and split), built once per session.

    Layout: ``images/livecell_{train_val,test}_images/<CellType>/*.tif`` and
    ``annotations/LIVECell/livecell_coco_{train,val,test}.json``.
    """
    from cellseg_nb.demo import generate_demo_dataset

    root = tmp_path_factory.mktemp("demo")
    generate_demo_dataset(root, images_per_type=2, seed=0)
    return root
