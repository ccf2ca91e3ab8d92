"""Predictions as COCO results: build them from masks, write them atomically, read and validate them.

A COCO result record is ``{"image_id", "category_id": 1, "segmentation": RLE, "score", "bbox"}`` with the
RLE ``counts`` as a str (json-safe). :func:`validate_results` is the one gate every prediction passes
before evaluation: unknown image ids, NaN or out-of-range scores, masks whose size differs from the
image, malformed records and empty files all raise :class:`~cellseg_nb.errors.DataError` naming the
file and the record.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..atomic import atomic_write_json
from ..data.coco import CocoDataset, load_coco, read_json
from ..data.geometry import segmentation_rle
from ..data.records import (bbox_problem, id_problem, is_real, is_whole, polygons_problem, rle_counts_problems,
                            rle_problem)
from ..errors import DataError


def masks_to_results(image_id: Any, masks: np.ndarray, scores: Sequence[float] | np.ndarray, *,
                     category_id: int = 1, boxes: np.ndarray | None = None) -> list[dict]:
    """COCO result records for one image's instance masks.

    ``masks`` is bool (or 0/1) of shape (N, H, W) (a torch tensor is accepted) or a
    :class:`~cellseg_nb.models.instances.BoxMasks`, ``scores`` N finite
    numbers. Each record carries a compressed RLE (``counts`` decoded to str), a bbox ``[x, y, w, h]``,
    the score and ``category_id`` 1. Order follows the input.

    ``boxes`` (N x 4, ``[x, y, w, h]``) are the model's own boxes, written as detectron2 writes them (a
    detector's box, which COCOeval's ``loadRes`` then uses as the detection's area); without them the
    bbox is the mask's tight extent.
    """
    from pycocotools import mask as mask_utils

    from ..models.instances import BoxMasks, encode_rles

    if not isinstance(masks, BoxMasks):  # BoxMasks (masks at box resolution) are encoded chunk by chunk
        masks = _to_numpy(masks)
        if masks.ndim != 3:
            raise ValueError(f"masks must have shape (N, H, W), got {masks.shape}")
    scores = _to_numpy(scores).astype(np.float64).reshape(-1)
    if len(scores) != masks.shape[0]:
        raise ValueError(f"{masks.shape[0]} masks but {len(scores)} scores")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"image {image_id!r}: scores contain NaN or infinite values")
    if masks.shape[0] == 0:
        return []
    rles = encode_rles(masks)
    if boxes is None:
        boxes = mask_utils.toBbox(rles)
    else:
        boxes = _to_numpy(boxes).astype(np.float64)
        if boxes.shape != (len(rles), 4) or not np.all(np.isfinite(boxes)):
            raise ValueError(f"image {image_id!r}: expected {len(rles)} finite boxes [x, y, w, h], "
                             f"got an array of shape {boxes.shape}")
    results = []
    for rle, box, score in zip(rles, boxes, scores):
        results.append({
            "image_id": image_id,
            "category_id": int(category_id),
            "segmentation": {"size": [int(rle["size"][0]), int(rle["size"][1])],
                             "counts": rle["counts"].decode("ascii")},
            "score": float(score),
            "bbox": [float(v) for v in box],
        })
    return results


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # torch tensor, on any device
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def save_results(path: str | Path, results: Iterable[dict]) -> Path:
    """Write COCO result records to ``path`` as json, atomically (bytes RLE counts become str)."""
    records = []
    for rec in results:
        rec = dict(rec)
        seg = rec.get("segmentation")
        if isinstance(seg, dict) and isinstance(seg.get("counts"), bytes):
            rec["segmentation"] = {"size": list(seg["size"]), "counts": seg["counts"].decode("ascii")}
        if "score" in rec:
            rec["score"] = float(rec["score"])
        records.append(rec)
    return atomic_write_json(path, records)


def load_results(path: str | Path, gt: CocoDataset | str | Path, *, allow_empty: bool = False) -> list[dict]:
    """Read a COCO results json and validate every record against the ground truth ``gt``.

    Accepts a list of records or a dict with an ``annotations`` list. A file with no predictions is an
    error unless ``allow_empty`` (an empty file usually means a failed prediction run).
    """
    gt = gt if isinstance(gt, CocoDataset) else load_coco(gt)
    path = Path(path)
    try:
        if path.is_file() and not path.read_bytes().strip():
            raise DataError("prediction file is empty (expected a JSON list of COCO result records)", file=path)
    except OSError:
        pass
    data = read_json(path)
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        data = data["annotations"]
    if not isinstance(data, list):
        raise DataError("expected a JSON list of COCO result records", file=path)
    if not data and not allow_empty:
        raise DataError("prediction file holds no predictions (an empty list); pass allow_empty=True "
                        "to evaluate a model that predicts nothing", file=path)
    return validate_results(data, gt, source=path)


def validate_results(results: Sequence[Any], gt: CocoDataset, *, source: str | Path = "<predictions>") -> list[dict]:
    """Check result records against ``gt`` and return normalised copies.

    Normalised records have ``category_id`` 1 (one class), a compressed RLE with str counts (polygons and
    uncompressed RLEs are converted) whose size equals the image's (height, width) and whose runs were
    decoded and summed in Python first (:mod:`cellseg_nb.data.records`), a float score in [0, 1] and the
    record's own bbox if it has one (checked: four finite numbers, w, h >= 0, inside the image). No bbox
    is added: COCOeval's ``loadRes`` gives a detection the area of its box when records carry boxes and
    the mask's area otherwise, so adding one would change APs/APm/APl against pycocotools on the same
    file. Either every record has a bbox or none does.
    """
    if not isinstance(results, (list, tuple)):
        raise DataError("predictions must be a list of COCO result records", file=source)
    out = []
    first_problem: tuple[int, str] | None = None
    for i, rec in enumerate(results):
        problem, normalised = _check_record(rec, gt)
        if problem:
            first_problem = (i, problem)
            break
        out.append(normalised)
    # compressed strings are decoded together, in one vectorised pass (records.rle_counts_problems)
    strings = [i for i, rec in enumerate(out) if _given_compressed(results[i]["segmentation"])]
    verdicts = rle_counts_problems([out[i]["segmentation"]["counts"] for i in strings],
                                   [out[i]["segmentation"]["size"] for i in strings])
    bad_rle = next(((i, problem) for i, problem in zip(strings, verdicts) if problem), None)
    if bad_rle is not None and (first_problem is None or bad_rle[0] < first_problem[0]):
        first_problem = bad_rle
    if first_problem is not None:
        i, problem = first_problem
        raise DataError(problem, file=source, record=_record_name(results[i], i))
    with_box = [i for i, rec in enumerate(out) if "bbox" in rec]
    if with_box and len(with_box) != len(out):
        first_without = next(i for i, rec in enumerate(out) if "bbox" not in rec)
        raise DataError(f"{len(with_box)} of {len(out)} records carry a bbox and this one does not; give every "
                        "record a bbox or none (COCO's loadRes takes every detection's area from the box when the "
                        "first record has one, and fails on a record without)", file=source,
                        record=_record_name(results[first_without], first_without))
    return out


def _record_name(rec: Any, index: int) -> str:
    if isinstance(rec, dict) and "image_id" in rec:
        return f"prediction #{index} (image_id={rec['image_id']!r})"
    return f"prediction #{index}"


def _check_record(rec: Any, gt: CocoDataset) -> tuple[str | None, dict]:
    if not isinstance(rec, dict):
        return "record is not an object", {}
    for key in ("image_id", "segmentation", "score"):
        if key not in rec:
            return f"missing key {key!r}", {}
    problem = id_problem(rec["image_id"], "image_id")   # True would find image 1, 1.0 too: refused
    if problem:
        return problem, {}
    try:
        img = gt.image(rec["image_id"])
    except (KeyError, TypeError):
        where = f" of {gt.path}" if gt.path else ""
        return f"image_id {rec['image_id']!r} is not an image{where} in the ground truth", {}
    score = rec["score"]
    if not is_real(score) or not math.isfinite(score):
        return f"score must be a finite number, got {score!r}", {}
    if not 0.0 <= score <= 1.0:
        return f"score {score!r} is outside [0, 1]", {}
    if "category_id" in rec and not is_whole(rec["category_id"]):
        return f"category_id must be an integer, got {rec['category_id']!r}", {}
    height, width = int(img["height"]), int(img["width"])
    seg = rec["segmentation"]
    try:
        rle = _normalise_segmentation(seg, height, width)
    except _BadSegmentation as exc:
        return str(exc), {}
    out = dict(rec, category_id=1, score=float(score), segmentation=rle)
    if "bbox" in rec:
        problem = bbox_problem(rec["bbox"], (height, width))
        if problem:
            return problem, {}
        out["bbox"] = [float(v) for v in rec["bbox"]]
    return None, out


def _finite_numbers(values: Sequence[Any]) -> bool:
    """True when every value is a real number (not bool, not str, not None) and finite."""
    return all(is_real(v) and math.isfinite(v) for v in values)


class _BadSegmentation(ValueError):
    pass


def _normalise_segmentation(seg: Any, height: int, width: int) -> dict:
    """A compressed RLE with str counts, after the checks of :mod:`cellseg_nb.data.records` (C code sees no garbage)."""
    if isinstance(seg, list):
        problem = polygons_problem(seg, (height, width))
        if problem:
            raise _BadSegmentation(problem)
        rle = segmentation_rle(seg, height, width)
        return {"size": [height, width], "counts": rle["counts"].decode("ascii")}
    if not isinstance(seg, dict) or "size" not in seg or "counts" not in seg:
        raise _BadSegmentation("segmentation must be an RLE object with 'size' and 'counts' (or a polygon list)")
    problem = rle_problem(seg, (height, width), check_counts=False)
    if problem:
        raise _BadSegmentation(problem)
    counts = seg["counts"]
    if isinstance(counts, list):
        rle = segmentation_rle({"size": [height, width], "counts": counts}, height, width)
        return {"size": [height, width], "counts": rle["counts"].decode("ascii")}
    if isinstance(counts, bytes):
        counts = counts.decode("ascii", errors="replace")   # a non-ASCII byte then fails the decode check
    return {"size": [height, width], "counts": counts}  # decoded and checked later with all others


def _given_compressed(seg: Any) -> bool:
    """A segmentation given as a compressed RLE string (checked by :func:`rle_counts_problems`)."""
    return isinstance(seg, dict) and isinstance(seg.get("counts"), (str, bytes))
