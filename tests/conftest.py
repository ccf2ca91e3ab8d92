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
