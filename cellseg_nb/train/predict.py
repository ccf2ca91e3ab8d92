"""Prediction with any checkpoint: COCO results json (RLE masks + scores), optional label TIFFs.

``predict_dataset`` runs on the images of a ground-truth json (ids from the json, results readable by
``cellseg-nb evaluate``); ``predict_folder`` runs on every image of a folder, records keyed by file name.
The checkpoint names the model and its kwargs, so every family is rebuilt the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from ..data.coco import CocoDataset, load_coco
from ..data.images import read_image
from ..data.layout import ImageLocator
from ..errors import DataError
from .checkpoint import build_model_from_checkpoint, load_checkpoint
from .runtime import resolve_device
from .validate import predict_image

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


def load_model(checkpoint: str | Path, device: str = "auto") -> tuple[torch.nn.Module, torch.device]:
    """The checkpoint's model in eval mode on the resolved device."""
    dev = resolve_device(device)
    model = build_model_from_checkpoint(load_checkpoint(checkpoint), map_location="cpu").to(dev).eval()
    return model, dev


def _cell_type(file_name: str) -> str | None:
    from ..celltypes import parse_file_name

    try:
        return parse_file_name(file_name).cell_type
    except ValueError:
        return None


def _predict_one(model, dev, path: Path, image_id: Any, file_name: str, score_threshold: float,
                 expected_size=None, labels_dir: Path | None = None) -> list[dict]:
    from ..eval import masks_to_results
    from ..eval.labels import label_image_from_masks, label_tiff_name, write_label_tiff

    image = torch.from_numpy(read_image(path, convert=True, expected_size=expected_size).astype(np.float32))[None]
    out = predict_image(model, image, dev, _cell_type(file_name))
    keep = out["scores"] >= score_threshold
    masks, scores = out["masks"][keep], out["scores"][keep]
    if labels_dir is not None:
        write_label_tiff(labels_dir / label_tiff_name(file_name), label_image_from_masks(masks.numpy(), scores.numpy()))
    return masks_to_results(image_id, masks, scores)


def predict_dataset(checkpoint: str | Path, annotations: str | Path | CocoDataset, images: str | Path,
                    out: str | Path | None = None, *, device: str = "auto", score_threshold: float = 0.0,
                    labels_dir: str | Path | None = None, progress: bool = True) -> list[dict]:
    """COCO results for every image of ``annotations`` (found under ``images``); written to ``out``."""
    from tqdm.auto import tqdm

    from ..eval import save_results

    gt = annotations if isinstance(annotations, CocoDataset) else load_coco(annotations)
    model, dev = load_model(checkpoint, device)
    locator = ImageLocator(images)
    labels_dir = None if labels_dir is None else Path(labels_dir)
    results: list[dict] = []
    for img in tqdm(gt.images, desc="predict", disable=not progress):
        path = locator.resolve(img["file_name"], annotations=gt.path)
        results += _predict_one(model, dev, path, img["id"], img["file_name"], score_threshold,
                                (int(img["width"]), int(img["height"])), labels_dir)
    if out is not None:
        save_results(out, results)
    return results


def image_files(folder: str | Path) -> list[Path]:
    """Image files directly or nested under ``folder``, sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("not a folder of images", file=folder)
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def predict_folder(checkpoint: str | Path, images: str | Path, out: str | Path | None = None, *,
                   device: str = "auto", score_threshold: float = 0.0, labels_dir: str | Path | None = None,
                   progress: bool = True, files: Iterable[Path] | None = None) -> list[dict]:
    """Results for every image in a folder (no annotations): ``image_id`` is the file name."""
    from tqdm.auto import tqdm

    from ..eval import save_results

    model, dev = load_model(checkpoint, device)
    labels_dir = None if labels_dir is None else Path(labels_dir)
    paths = list(files) if files is not None else image_files(images)
    results: list[dict] = []
    for path in tqdm(paths, desc="predict", disable=not progress):
        results += _predict_one(model, dev, path, path.name, path.name, score_threshold, None, labels_dir)
    if out is not None:
        save_results(out, results)
    return results
