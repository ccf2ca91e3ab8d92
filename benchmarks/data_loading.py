"""Samples/s of SemanticDataset and InstanceDataset on the real LIVECell sample, one CPU thread.

Three modes per dataset, 256x256 random crops with full augmentation:

* ``rasterize``: no cache, every access rasterises every polygon of the image with pycocotools
  (``frPyObjects``/``merge``/``decode``) and rebuilds the semantic map - the baseline;
* ``cold``: first epoch with an on-disk cache (rasterise + write compressed npz);
* ``cached``: later epochs, targets read back from the on-disk cache (no in-memory cache).

Usage: ``OMP_NUM_THREADS=1 python benchmarks/data_loading.py [--samples 100] [--crop 256] [--json out.json]``
(default paths are the shared sample; override with ``--annotations`` / ``--images``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from cellseg_nb.data.datasets import InstanceDataset, SemanticDataset

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "livecell-sample"


def rate(ds, samples: int) -> float:
    """Samples per second over ``samples`` items (cycling through the dataset, new epoch each pass)."""
    start = time.perf_counter()
    for k in range(samples):
        ds.set_epoch(k // len(ds))
        ds[k % len(ds)]
    return samples / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--annotations", default=str(SAMPLE / "annotations/LIVECell/livecell_coco_val.json"))
    p.add_argument("--images", default=str(SAMPLE / "images"))
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    results: dict = {}
    for cls in (SemanticDataset, InstanceDataset):
        kw = dict(crop_size=args.crop, augment=True, seed=0)
        row = {"rasterize": rate(cls(args.annotations, args.images, **kw), args.samples)}
        with tempfile.TemporaryDirectory() as cache:
            first = cls(args.annotations, args.images, cache_dir=cache, **kw)
            row["cold"] = rate(first, len(first))
            row["cached"] = rate(cls(args.annotations, args.images, cache_dir=cache, **kw), args.samples)
        row["speedup_cached_vs_rasterize"] = row["cached"] / row["rasterize"]
        results[cls.__name__] = row
        print(f"{cls.__name__:<16} rasterize {row['rasterize']:7.1f}/s  cold {row['cold']:7.1f}/s  "
              f"cached {row['cached']:7.1f}/s  ({row['speedup_cached_vs_rasterize']:.1f}x)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
