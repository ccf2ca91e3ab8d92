"""Predictions in a run folder: write a model's COCO results for a split, read every model's back.

Notebooks that train or run a model call :func:`predict_split` to write
``runs/<name>/predictions/<model>.json``; notebooks 05 and 06 call :func:`load_run_predictions` to read
them, restricted to the images they evaluate (so a model predicted on more images than the evaluation
uses still evaluates cleanly).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..data.coco import CocoDataset, read_json
from ..errors import DataError
from .artifacts import PREDICTIONS
from ..data.splits import SplitData

log = logging.getLogger(__name__)

#: ``image -> (masks N x H x W bool or BoxMasks, scores N)`` for one uint8 ``H x W`` image.
PredictImage = Callable[[np.ndarray], tuple[Any, Any]]


def predictions_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / PREDICTIONS


def predict_split(data: SplitData, predict_image: PredictImage, dest: str | Path, *,
                  progress: bool = True) -> Path:
    """Run ``predict_image`` on every image of ``data`` through the package's one prediction loop
    (:func:`cellseg_nb.train.inference.predict_images`) and write one COCO results json to ``dest``
    atomically; logs images per second."""
    from ..eval.predictions import save_results
    from ..train.inference import predict_images, read_source
    from ..train.predict import coco_sources

    run = predict_images(coco_sources(data.dataset, data.image_root), lambda image, _source: predict_image(image),
                         read=lambda source: read_source(source, convert=False), progress=progress,
                         desc=f"predicting {Path(dest).stem}")
    log.info("%s: %d images, %d instances, %.2f s/image", Path(dest).name, len(data.dataset.images),
             len(run.records), run.seconds / max(len(data.dataset.images), 1))
    return save_results(dest, run.records)


def load_run_predictions(run_dir: str | Path, gt: CocoDataset, models: Sequence[str] | None = None,
                         ) -> dict[str, list[dict]]:
    """Every model's predictions in the run (or just ``models``, in that order), restricted to ``gt``'s
    images and validated against them. A requested model without a predictions file raises naming it."""
    from ..eval.predictions import validate_results

    folder = predictions_dir(run_dir)
    available = {p.stem: p for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}
    names = list(models) if models else list(available)
    wanted = set(gt.image_ids)
    out = {}
    for name in names:
        if name not in available:
            raise DataError(f"no predictions for model {name!r}; run the notebook that trains it first "
                            f"(available: {', '.join(available) or 'none'})", file=folder / f"{name}.json")
        data = read_json(available[name])
        if not isinstance(data, list):
            raise DataError("expected a JSON list of COCO result records", file=available[name])
        kept = [r for r in data if isinstance(r, dict) and r.get("image_id") in wanted]
        out[name] = validate_results(kept, gt, source=available[name])
    return out


def ensure_classical_predictions(run_dir: str | Path, data: SplitData, *, overwrite: bool = False) -> Path:
    """The classical baseline's predictions (``predictions/classical.json``) for every image of ``data``:
    computed with :func:`cellseg_nb.baseline.segment_dataset` unless the file already covers them."""
    from ..baseline import segment_dataset
    from ..eval.predictions import save_results

    dest = predictions_dir(run_dir) / "classical.json"
    if dest.is_file() and not overwrite:
        existing = read_json(dest)
        covered = {r.get("image_id") for r in existing if isinstance(r, dict)} if isinstance(existing, list) else set()
        if set(data.dataset.image_ids) <= covered:
            return dest
    start = time.perf_counter()
    results = segment_dataset(data.dataset, data.image_root)
    log.info("classical baseline: %d images in %.1f s", len(data.dataset.images), time.perf_counter() - start)
    return save_results(dest, results)


def run_model_weights(run_dir: str | Path, model: str = "") -> Path:
    """The checkpoint of a model trained earlier in the run (``runs/<name>/models/<model>/checkpoints``):
    ``best.pt`` when validation kept one, else the latest ``step_*.pt``. ``model`` "" takes the first
    model (by name) that has a checkpoint. Missing ones raise naming the folder and what is there."""
    from ..train.checkpoint import latest_checkpoint
    from .artifacts import MODELS

    root = Path(run_dir) / MODELS
    labels = [model] if model else sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for label in labels:
        folder = root / label / "checkpoints"
        best = folder / "best.pt"
        found = best if best.is_file() else latest_checkpoint(folder)
        if found is not None:
            return found
    present = ", ".join(sorted(p.name for p in root.iterdir())) if root.is_dir() else "none"
    raise DataError(f"no checkpoint of {model or 'any model'} in the run; train one first (notebook 03 or 04) "
                    f"or pass weights (a zoo name or a file); models here: {present}", file=root / (model or ""))


def choose_images(images: str | Path | Sequence[str | Path], max_images: int = 0, seed: int = 0) -> list:
    """Image sources (:func:`cellseg_nb.train.predict.folder_sources`) of folders / files; ``max_images`` > 0
    keeps that many drawn at random with ``seed`` (kept in file order)."""
    import numpy as np

    from ..train.predict import folder_sources

    sources = folder_sources(images)
    if 0 < max_images < len(sources):
        keep = np.sort(np.random.default_rng(seed).choice(len(sources), size=max_images, replace=False))
        sources = [sources[int(i)] for i in keep]
    return sources
