"""The one prediction loop of the package: images in, COCO result records (and per-image rows) out.

Every caller that predicts a set of images goes through :func:`predict_images`: ``cellseg-nb predict``
(folders or a COCO json, any model), the notebooks' run predictions (:mod:`cellseg_nb.pipeline.predictions`)
and the classical baseline (:func:`cellseg_nb.baseline.segment_dataset`). The loop reads each image,
asks a *predictor* (``uint8 H x W image -> (masks, scores)``; masks dense or
:class:`~cellseg_nb.models.instances.BoxMasks`) for its instances, drops those below the score threshold,
hands them to an optional per-image hook (label TIFFs, table rows) and encodes them as COCO RLE records,
so full-size masks of a dense image never exist all at once.

Under ``torchrun`` (an initialised process group) and with ``shard=True`` (``cellseg-nb predict`` sets
it) the images are sharded across ranks (rank ``r`` takes images ``r, r + world, ...``), and records and
rows are gathered back on every rank in the input order with the existing runtime
(:mod:`cellseg_nb.train.runtime`): no queue of our own.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import torch
import torch.distributed as dist

from ..models.instances import Masks, mask_count

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageSource:
    """One image to predict: ``key`` becomes the records' ``image_id`` (a COCO id, or the file name)."""

    key: Any
    path: Path
    file_name: str
    expected_size: tuple[int, int] | None = None  #: (width, height) from a COCO record; checked on read
    cell_type: str | None = None                  #: routes ensemble models; picks the baseline's diameter


@dataclass
class ImagePrediction:
    """What the loop hands the per-image hook: the kept instances of one image."""

    source: ImageSource
    image: np.ndarray
    masks: Masks
    scores: np.ndarray
    seconds: float


#: ``(image uint8 H x W, source) -> (masks N x H x W or BoxMasks, scores N)``
Predictor = Callable[[np.ndarray, ImageSource], "Instances | tuple[Masks, Any]"]
#: reads an image as uint8 H x W
Reader = Callable[[ImageSource], np.ndarray]
#: per-image hook; a returned dict becomes a row of the run's table
Hook = Callable[[ImagePrediction], dict | None]


@dataclass
class PredictionRun:
    """Records of every image (input order) and the hook's rows (one per image when it returns one)."""

    records: list[dict] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def read_source(source: ImageSource, *, convert: bool = True) -> np.ndarray:
    """The default reader: :func:`cellseg_nb.data.images.read_image` (``convert`` rule stated there)."""
    from ..data.images import read_image

    return read_image(source.path, convert=convert, expected_size=source.expected_size)


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the world size (0, 1 without an initialised process group)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class Instances(NamedTuple):
    """What a predictor returns for one image: masks, scores and, for a detector, its own boxes
    (``N x 4`` x1, y1, x2, y2 pixels), which the results record as detectron2 does."""

    masks: Masks
    scores: Any
    boxes: Any = None


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _keep(found: Instances, threshold: float) -> Instances:
    masks = found.masks
    s = _numpy(found.scores).astype(np.float64).reshape(-1)
    boxes = None if found.boxes is None else _numpy(found.boxes).astype(np.float64).reshape(-1, 4)
    if len(s) != mask_count(masks) or (boxes is not None and len(boxes) != len(s)):
        raise ValueError(f"{mask_count(masks)} masks, {len(s)} scores and "
                         f"{'no' if boxes is None else len(boxes)} boxes")
    if threshold <= 0:
        return Instances(masks, s, boxes)
    keep = np.flatnonzero(s >= threshold)
    masks = masks[torch.from_numpy(keep)] if isinstance(masks, torch.Tensor) else masks[keep]
    return Instances(masks, s[keep], None if boxes is None else boxes[keep])


def _xywh(boxes: np.ndarray | None) -> np.ndarray | None:
    return None if boxes is None else np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]


def predict_images(sources: Sequence[ImageSource], predictor: Predictor, *, read: Reader | None = None,
                   min_score: float = 0.0, on_image: Hook | None = None, progress: bool = True,
                   desc: str = "predict", shard: bool = False) -> PredictionRun:
    """Run ``predictor`` on every image of ``sources`` and return the COCO records of all images, in input
    order. With ``shard`` and an initialised process group, this rank predicts only its share and every
    rank gets everyone's records back (all ranks must call it then); without ``shard`` (the default, so
    rank-0-only callers never wait on other ranks) the process predicts every image.

    ``read`` defaults to :func:`read_source`; ``on_image`` sees each image's kept instances (e.g. writes
    its label TIFF) and may return a table row. Instances scoring below ``min_score`` are dropped.
    """
    from tqdm.auto import tqdm

    from ..eval.predictions import masks_to_results

    if not 0.0 <= min_score <= 1.0:
        raise ValueError(f"min_score must be in [0, 1], got {min_score}")
    read = read or read_source
    rank, world = rank_and_world() if shard else (0, 1)
    mine = list(range(rank, len(sources), world))
    per_image: list[tuple[int, list[dict], dict | None]] = []
    start = time.perf_counter()
    for i in tqdm(mine, desc=desc, disable=not progress or rank != 0, leave=False):
        source = sources[i]
        image = read(source)
        t0 = time.perf_counter()
        result = predictor(image, source)
        found = _keep(result if isinstance(result, Instances) else Instances(*result), min_score)
        seconds = time.perf_counter() - t0
        row = on_image(ImagePrediction(source, image, found.masks, found.scores, seconds)) if on_image else None
        per_image.append((i, masks_to_results(source.key, found.masks, found.scores, boxes=_xywh(found.boxes)), row))
    if world > 1:
        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, per_image)
        per_image = sorted((item for part in gathered for item in part), key=lambda item: item[0])
    run = PredictionRun(seconds=time.perf_counter() - start)
    for _, records, row in per_image:
        run.records.extend(records)
        if row is not None:
            run.rows.append(row)
    log.info("%s: %d images, %d instances, %.2f s/image on rank %d", desc, len(mine), len(run.records),
             run.seconds / max(len(mine), 1), rank)
    return run


def model_predictor(model: torch.nn.Module, device: torch.device, *, amp: str = "none",
                    channels_last: bool = False) -> Predictor:
    """A predictor for any model of the package's contract (eval mode, ``model(images) -> list[dict]``).
    ``amp`` ("auto", "none", "bf16", "fp16") and ``channels_last`` as in training: bf16 with channels_last
    predicts CenterMask about 3x faster on CPUs with native bf16 (docs/benchmarks.md); the default is
    exact fp32. ``channels_last`` converts ``model`` in place (it is the caller's model to predict with)."""
    from .runtime import resolve_amp
    from .validate import predict_image

    amp = resolve_amp(amp, torch.device(device))
    if channels_last:
        model.to(memory_format=torch.channels_last)

    def predict(image: np.ndarray, source: ImageSource) -> Instances:
        x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]
        out = predict_image(model, x, device, source.cell_type, channels_last=channels_last, amp=amp)
        return Instances(out["masks"], out["scores"], out.get("boxes"))

    return predict
