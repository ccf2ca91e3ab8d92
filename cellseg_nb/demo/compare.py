"""Compare the demo data with real LIVECell images, image for image.

For every real image of the sample a demo image of the same line at the same elapsed time is simulated,
and both are measured with :mod:`cellseg_nb.demo.measure`, so differences are not differences of culture
age. Used by ``benchmarks/demo_data.py`` for the table and figure in docs/demo-data.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..celltypes import CELL_TYPES, parse_file_name
from ..data.coco import CocoDataset, load_coco
from ..data.images import read_image
from ..data.geometry import polygon_annotation
from ..data.layout import annotation_relpath
from .generate import generate_image
from .growth import Acquisition
from .layout import image_record
from .measure import cell_statistics, image_statistics, summarize_by_type


def matched_demo_images(sample_root: str | Path, seed: int = 0):
    """Yield (real_path, DemoImage) pairs: one simulated image per real sample image, same line and time."""
    paths = sorted((Path(sample_root) / "images").rglob("*.tif"))
    for k, path in enumerate(paths):
        meta = parse_file_name(path.name)
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7, k]))
        acq = Acquisition(meta.well, meta.location, int(meta.elapsed_hours), meta.crop)
        yield path, generate_image(meta.cell_type, acq, rng)


def compare_with_sample(sample_root: str | Path, seed: int = 0, repeats: int = 1) -> dict[str, dict[str, dict]]:
    """Per-type statistics of the real sample and of matched demo images.

    Returns ``{"real": summary, "demo": summary}`` as :func:`~cellseg_nb.demo.measure.summarize_by_type`
    gives them (demo cell statistics cover every line; real ones only the annotated images).
    ``repeats`` simulates each real image that many times (different seeds) for steadier demo numbers.
    """
    sample_root = Path(sample_root)
    real_rows, demo_rows, demo_images, demo_anns = [], [], [], []
    for r in range(repeats):
        for path, demo in matched_demo_images(sample_root, seed + 1000 * r):
            if r == 0:
                row = image_statistics(read_image(path))
                row["cell_type"] = parse_file_name(path.name).cell_type
                real_rows.append(row)
            row = image_statistics(demo.image)
            row["cell_type"] = demo.cell_type
            demo_rows.append(row)
            image_id = len(demo_images) + 1
            demo_images.append(image_record(image_id, demo.file_name, demo.cell_type))
            for poly in demo.polygons:
                demo_anns.append(polygon_annotation(len(demo_anns) + 1, image_id, poly))
    demo_ds = CocoDataset(images=demo_images, annotations=demo_anns)
    real_ds = load_coco(sample_root / annotation_relpath("val"))
    real = summarize_by_type(real_rows, cell_statistics(real_ds))
    demo = summarize_by_type(demo_rows, cell_statistics(demo_ds))
    order = [t for t in CELL_TYPES if t in real or t in demo]
    return {"real": {t: real.get(t, {}) for t in order}, "demo": {t: demo.get(t, {}) for t in order}}
