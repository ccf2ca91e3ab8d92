"""Prediction with any weights: COCO results json, uint16 label TIFFs and a per-image table.

``predict_dataset`` runs on the images of a ground-truth json (ids from the json, results readable by
``cellseg-nb evaluate``); ``predict_folder`` on every image of folders or files, records keyed by file
name. Models come from :func:`cellseg_nb.weights.load_model` (a zoo name, a cellseg-nb checkpoint or a
centermask2 / LIVECell ``.pth``); the images go through the package's one loop
(:func:`cellseg_nb.train.inference.predict_images`), sharded across ranks under ``torchrun``.

Per-image table (``--table``): ``file_name, image_id, width, height, cell_count, confluence,
mean_area_px, median_area_px, cell_type, well, elapsed_hours, seconds``. Counts, areas and confluence
are read from the image's label image (what the label TIFF holds: where predictions overlap the higher
score wins, so an instance entirely covered by better ones is not counted); cell line, well and
elapsed time come from LIVECell-style file names and are empty otherwise.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path, PurePath
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from ..data.coco import CocoDataset, load_coco
from ..errors import DataError
from .inference import (ImagePrediction, ImageSource, PredictionRun, model_predictor, predict_images, rank_and_world,
                        read_source)
from .runtime import resolve_device

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")
TABLE_COLUMNS = ("file_name", "image_id", "width", "height", "cell_count", "confluence", "mean_area_px",
                 "median_area_px", "cell_type", "well", "elapsed_hours", "seconds")


def load_model(source: str | Path, device: str = "auto", **overrides: Any) -> tuple[torch.nn.Module, torch.device]:
    """The model of a zoo name or weights file in eval mode on the resolved device (strict loading by
    :func:`cellseg_nb.weights.load_model`)."""
    from ..weights import load_model as load_weights

    dev = resolve_device(device)
    model, _ = load_weights(source, device=dev, **overrides)
    return model.to(dev).eval(), dev


def _file_meta(file_name: str):
    from ..celltypes import parse_file_name

    try:
        return parse_file_name(PurePath(file_name).name)
    except ValueError:
        return None


def image_files(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """Image files of folders (searched recursively, sorted) and files given directly, in the given order."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            raise DataError("no such image file or folder", file=p)
    if not out:
        raise DataError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) found", file=", ".join(map(str, items)))
    return out


def folder_sources(paths: str | Path | Sequence[str | Path]) -> list[ImageSource]:
    """One source per image file, keyed by its file name; two files with one name (or one label TIFF
    name) are an error naming both, since results and label images are keyed by it."""
    sources, seen = [], {}
    for path in image_files(paths):
        key = path.stem.lower()
        if key in seen:
            raise DataError(f"two images share the name {path.stem!r} ({seen[key]} and {path}); results and "
                            "label TIFFs are keyed by file name", file=path)
        seen[key] = path
        meta = _file_meta(path.name)
        sources.append(ImageSource(path.name, path, path.name, None, meta.cell_type if meta else None))
    return sources


def coco_sources(gt: CocoDataset, images: str | Path) -> list[ImageSource]:
    """One source per image record of ``gt`` (ids from the json, sizes checked), found under ``images``."""
    from ..data.layout import ImageLocator

    locator = ImageLocator(images)
    out = []
    for img in gt.images:
        path = locator.resolve(img["file_name"], record=f"image id={img['id']!r}", annotations=gt.path)
        out.append(ImageSource(img["id"], path, img["file_name"], (int(img["width"]), int(img["height"])),
                               gt.cell_type(img["id"])))
    return out


def image_row(pred: ImagePrediction, labels: np.ndarray) -> dict:
    """The per-image table row of one prediction (see the module docstring)."""
    counts = np.bincount(labels.ravel(), minlength=1)[1:]
    areas = counts[counts > 0].astype(np.float64)
    meta = _file_meta(pred.source.file_name)
    h, w = labels.shape
    return {"file_name": pred.source.file_name, "image_id": pred.source.key, "width": w, "height": h,
            "cell_count": int(len(areas)), "confluence": float((labels > 0).mean()),
            "mean_area_px": float(areas.mean()) if len(areas) else 0.0,
            "median_area_px": float(np.median(areas)) if len(areas) else 0.0,
            "cell_type": meta.cell_type if meta else "", "well": meta.well if meta else "",
            "elapsed_hours": meta.elapsed_hours if meta else "", "seconds": round(pred.seconds, 4)}


def write_table(path: str | Path, rows: Iterable[dict]) -> Path:
    """The per-image table as CSV, atomically."""
    from ..atomic import atomic_write_text

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(TABLE_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in TABLE_COLUMNS})
    return atomic_write_text(path, buf.getvalue())


def run_prediction(model: torch.nn.Module, device: torch.device, sources: Sequence[ImageSource], *,
                   out: str | Path | None = None, labels_dir: str | Path | None = None,
                   table: str | Path | None = None, min_score: float = 0.0, preprocess: str = "none",
                   convert: bool = True, progress: bool = True, shard: bool = False, amp: str = "none",
                   channels_last: bool = False) -> PredictionRun:
    """Predict ``sources`` with ``model`` through the one loop; write results json, label TIFFs and table.

    With ``shard`` under ``torchrun`` every rank calls this: label TIFFs are written by the rank that
    predicted the image, the json and the table by rank 0 after the records are gathered. ``preprocess``
    is "none" or "livecell" (:mod:`cellseg_nb.data.preprocess`); ``amp`` and ``channels_last`` as in
    :func:`cellseg_nb.train.inference.model_predictor` (default exact fp32).
    """
    from ..data.preprocess import preprocess_image
    from ..eval.labels import label_tiff_name, write_label_tiff
    from ..eval.predictions import save_results
    from ..models.instances import prediction_masks

    labels_path = None if labels_dir is None else Path(labels_dir)
    if labels_path is not None:
        names = [label_tiff_name(s.file_name) for s in sources]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise DataError(f"several images would write the label image {dup[0]}", file=labels_path / dup[0])
        labels_path.mkdir(parents=True, exist_ok=True)

    def read(source: ImageSource) -> np.ndarray:
        return preprocess_image(read_source(source, convert=convert), preprocess)

    def on_image(pred: ImagePrediction) -> dict | None:
        if labels_path is None and table is None:
            return None
        labels = prediction_masks(pred.masks, "labels", pred.scores)
        if labels_path is not None:
            write_label_tiff(labels_path / label_tiff_name(pred.source.file_name), labels)
        return image_row(pred, labels)

    predictor = model_predictor(model, device, amp=amp, channels_last=channels_last)
    run = predict_images(sources, predictor, read=read, min_score=min_score,
                         on_image=on_image, progress=progress, shard=shard)
    if not shard or rank_and_world()[0] == 0:
        if out is not None:
            save_results(out, run.records)
        if table is not None:
            write_table(table, run.rows)
    return run


def predict_dataset(checkpoint: str | Path, annotations: str | Path | CocoDataset, images: str | Path,
                    out: str | Path | None = None, *, device: str = "auto", min_score: float = 0.0,
                    labels_dir: str | Path | None = None, table: str | Path | None = None,
                    preprocess: str = "none", progress: bool = True, amp: str = "none",
                    channels_last: bool = False) -> list[dict]:
    """COCO results for every image of ``annotations`` (found under ``images``); written to ``out``.
    ``checkpoint`` is anything :func:`cellseg_nb.weights.load_model` takes; ``amp`` / ``channels_last`` as
    in :func:`run_prediction`."""
    gt = annotations if isinstance(annotations, CocoDataset) else load_coco(annotations)
    model, dev = load_model(checkpoint, device)
    return run_prediction(model, dev, coco_sources(gt, images), out=out, labels_dir=labels_dir, table=table,
                          min_score=min_score, preprocess=preprocess, progress=progress, amp=amp,
                          channels_last=channels_last).records


def predict_folder(checkpoint: str | Path, images: str | Path | Sequence[str | Path], out: str | Path | None = None,
                   *, device: str = "auto", min_score: float = 0.0, labels_dir: str | Path | None = None,
                   table: str | Path | None = None, preprocess: str = "none", convert: bool = True,
                   progress: bool = True, files: Iterable[Path] | None = None) -> list[dict]:
    """Results for every image of folders / files (no annotations): ``image_id`` is the file name."""
    model, dev = load_model(checkpoint, device)
    sources = folder_sources(list(files) if files is not None else images)
    return run_prediction(model, dev, sources, out=out, labels_dir=labels_dir, table=table,
                          min_score=min_score, preprocess=preprocess, convert=convert,
                          progress=progress).records
