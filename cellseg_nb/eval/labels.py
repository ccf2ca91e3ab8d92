"""Instance predictions as uint16 label TIFFs (Fiji, napari, CellProfiler) and back.

Writing: one TIFF per image, named like the image (``<stem>.tif``), uint16, 0 = background, Deflate
compression (readable by Pillow, tifffile without imagecodecs, Fiji/Bio-Formats and CellProfiler).
Labels are numbered by descending score (1 = highest score). **Overlap rule: the higher score wins** —
a pixel claimed by several predictions takes the label of the highest-scoring one (ties: the earlier
record), so a prediction entirely covered by better ones vanishes from the label image.

Reading: every label value > 0 becomes one COCO result record (compressed RLE built straight from the
label image's runs, no per-label full-size mask). Label images carry no scores: ``scores="constant"``
gives every instance 1.0; ``scores="rank"`` gives label k of n the score ``1 - (k - 1) / n`` so that
files written here keep their ranking.
"""

from __future__ import annotations

import warnings
from pathlib import Path, PurePath
from typing import Any, Literal, Sequence

import numpy as np
from PIL import Image

from ..data.coco import CocoDataset
from ..data.geometry import segmentation_rle
from ..errors import DataError
from .matching import score_order

MAX_LABELS = 65535


def label_image_from_results(results: Sequence[dict], height: int, width: int) -> np.ndarray:
    """uint16 (H, W) label image of one image's result records; higher score wins where they overlap."""
    from pycocotools import mask as mask_utils

    if len(results) > MAX_LABELS:
        raise ValueError(f"{len(results)} instances do not fit in a uint16 label image (max {MAX_LABELS})")
    labels = np.zeros((height, width), dtype=np.uint16)
    if not results:
        return labels
    order = score_order(np.array([r["score"] for r in results], dtype=np.float64))
    # paint from the lowest score up so better predictions overwrite worse ones
    for rank in range(len(order) - 1, -1, -1):
        seg = results[order[rank]]["segmentation"]
        counts = seg["counts"].encode("ascii") if isinstance(seg["counts"], str) else seg["counts"]
        if [int(s) for s in seg["size"]] != [height, width]:
            raise ValueError(f"mask size {seg['size']} differs from the image's [{height}, {width}]")
        with warnings.catch_warnings():  # pycocotools' decode trips a numpy 2 DeprecationWarning
            warnings.simplefilter("ignore", DeprecationWarning)
            mask = mask_utils.decode({"size": [height, width], "counts": counts}).astype(bool)
        labels[mask] = rank + 1
    return labels


def label_image_from_masks(masks: np.ndarray, scores: Sequence[float]) -> np.ndarray:
    """uint16 label image of (N, H, W) bool masks (or :class:`~cellseg_nb.models.instances.BoxMasks`);
    higher score wins where they overlap (:func:`cellseg_nb.models.instances.label_image`)."""
    from ..models.instances import BoxMasks, label_image

    if not isinstance(masks, BoxMasks):
        masks = np.asarray(masks, dtype=bool)
        if masks.ndim != 3:
            raise ValueError(f"masks must have shape (N, H, W), got {masks.shape}")
    if masks.shape[0] > MAX_LABELS:
        raise ValueError(f"{masks.shape[0]} instances do not fit in a uint16 label image (max {MAX_LABELS})")
    return label_image(masks, scores)


def write_label_tiff(path: str | Path, labels: np.ndarray) -> Path:
    """Write a uint16 label image as a Deflate-compressed TIFF, atomically."""
    from ..data.images import write_image

    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype != np.uint16:
        raise ValueError(f"label image must be uint16 (H, W), got {labels.dtype} {labels.shape}")
    return write_image(path, labels, compression="tiff_adobe_deflate")


def label_tiff_name(file_name: str) -> str:
    """``A172_Phase_C7_1_02d16h00m_2.tif`` -> ``A172_Phase_C7_1_02d16h00m_2.tif`` (any suffix -> .tif)."""
    return PurePath(file_name).stem + ".tif"


def write_label_tiffs(results: Sequence[dict], gt: CocoDataset, out_dir: str | Path) -> list[Path]:
    """One label TIFF per ground-truth image in ``out_dir`` (images without predictions get an empty one)."""
    by_image: dict[Any, list[dict]] = {img_id: [] for img_id in gt.image_ids}
    for rec in results:
        if rec["image_id"] not in by_image:
            raise DataError(f"prediction for unknown image id {rec['image_id']!r}", file=gt.path or "<ground truth>")
        by_image[rec["image_id"]].append(rec)
    paths = []
    for img in gt.images:
        labels = label_image_from_results(by_image[img["id"]], int(img["height"]), int(img["width"]))
        paths.append(write_label_tiff(Path(out_dir) / label_tiff_name(img["file_name"]), labels))
    return paths


def read_label_tiff(path: str | Path, image_id: Any, *, expected_size: tuple[int, int] | None = None,
                    scores: Literal["constant", "rank"] = "constant") -> list[dict]:
    """COCO result records (one per label value > 0) of a label image; ``expected_size`` is (width, height)."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            labels = np.array(im)
    except FileNotFoundError:
        raise DataError("label image not found", file=path) from None
    except OSError as exc:
        raise DataError(f"cannot decode label image ({exc})", file=path) from None
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"a label image must be a single-channel integer image, got {labels.dtype} {labels.shape}",
                        file=path)
    if labels.size and labels.min() < 0:
        raise DataError("label image has negative values", file=path)
    if expected_size is not None and labels.shape != (expected_size[1], expected_size[0]):
        raise DataError(f"label image is {labels.shape[1]}x{labels.shape[0]} (WxH), the image is "
                        f"{expected_size[0]}x{expected_size[1]}", file=path)
    return results_from_label_image(labels, image_id, scores=scores)


def results_from_label_image(labels: np.ndarray, image_id: Any, *,
                             scores: Literal["constant", "rank"] = "constant") -> list[dict]:
    """COCO result records of a label image, built from its column-major runs (no per-label masks)."""
    from pycocotools import mask as mask_utils

    if scores not in ("constant", "rank"):
        raise ValueError(f"scores must be 'constant' or 'rank', got {scores!r}")
    height, width = labels.shape
    flat = np.asarray(labels).ravel(order="F").astype(np.int64)
    pixels = np.flatnonzero(flat)
    if pixels.size == 0:
        return []
    values = flat[pixels]
    order = np.argsort(values, kind="stable")          # pixels grouped by label, ascending position
    pixels, values = pixels[order], values[order]
    label_ids, starts = np.unique(values, return_index=True)
    ends = np.r_[starts[1:], len(values)]
    n = len(label_ids)
    out = []
    for rank, (label, a, b) in enumerate(zip(label_ids, starts, ends)):
        pos = pixels[a:b]
        breaks = np.flatnonzero(np.diff(pos) != 1) + 1
        run_starts = pos[np.r_[0, breaks]]
        run_ends = pos[np.r_[breaks - 1, len(pos) - 1]] + 1
        gaps = run_starts - np.r_[0, run_ends[:-1]]
        counts = np.empty(2 * len(run_starts) + 1, dtype=np.int64)
        counts[0:-1:2], counts[1:-1:2] = gaps, run_ends - run_starts
        counts[-1] = height * width - run_ends[-1]
        rle = segmentation_rle({"size": [height, width], "counts": counts.tolist()}, height, width)
        out.append({
            "image_id": image_id,
            "category_id": 1,
            "segmentation": {"size": [height, width], "counts": rle["counts"].decode("ascii")},
            "score": 1.0 if scores == "constant" else float(1.0 - rank / n),
            "bbox": [float(v) for v in mask_utils.toBbox(rle)],
            "label": int(label),
        })
    return out


def read_label_tiffs(folder: str | Path, gt: CocoDataset, *, scores: Literal["constant", "rank"] = "constant",
                     allow_missing: bool = False) -> list[dict]:
    """Results for every ground-truth image from ``folder/<image stem>.tif``.

    A missing label file is an error unless ``allow_missing`` (then that image has no predictions).
    """
    folder = Path(folder)
    results: list[dict] = []
    for img in gt.images:
        path = folder / label_tiff_name(img["file_name"])
        if not path.is_file():
            if allow_missing:
                continue
            raise DataError(f"no label image for {img['file_name']} (image id {img['id']!r})", file=path)
        results.extend(read_label_tiff(path, img["id"], expected_size=(int(img["width"]), int(img["height"])),
                                       scores=scores))
    return results
