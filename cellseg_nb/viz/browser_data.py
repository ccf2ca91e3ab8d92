"""What the prediction browser shows, computed once and cached: images in well and time order, each
image's pixels and ground-truth label image, each model's overlaps and prediction label image, and the
evaluation's score (row + per-object matching) per model and threshold.

Everything numeric comes from :func:`cellseg_nb.eval.per_image.score_image`, so the browser colours
exactly what notebook 05's tables count. Overlaps do not depend on the score threshold, so moving the
threshold only re-runs the greedy matching on the cached overlaps.

While a picture is shown, :meth:`BrowserCache.prefetch` fills the caches for the neighbouring image and
the other models (:func:`prefetch_jobs`) in one background thread, so n / p and a model switch usually
find their data ready; the thread runs only this module's numpy code, never matplotlib or widgets.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Hashable, Mapping, Sequence, TypeVar

import numpy as np

from ..celltypes import CELL_TYPES, DISPLAY_NAMES, parse_file_name
from ..data.coco import CocoDataset, load_coco
from ..errors import DataError
from .layers import label_image

ALL = "all cell types"
T = TypeVar("T")


@dataclass(frozen=True)
class ImageEntry:
    """One image as the browser lists it: sortable by cell type, well, location and elapsed time."""

    id: object
    file_name: str
    cell_type: str
    well: str = ""
    location: int = 0
    elapsed_hours: float = float("nan")
    crop: int = 0

    @property
    def label(self) -> str:
        """``BV-2 · well B3 · site 1 · 2 d 16 h (64 h)`` or the file name when it does not parse."""
        if self.elapsed_hours != self.elapsed_hours:
            return self.file_name
        days, hours = divmod(int(round(self.elapsed_hours)), 24)
        return (f"{DISPLAY_NAMES.get(self.cell_type, self.cell_type)} · well {self.well} · site {self.location}"
                f" · crop {self.crop} · {days} d {hours:02d} h ({self.elapsed_hours:g} h)")

    def sort_key(self) -> tuple:
        order = CELL_TYPES.index(self.cell_type) if self.cell_type in CELL_TYPES else len(CELL_TYPES)
        hours = self.elapsed_hours if self.elapsed_hours == self.elapsed_hours else float("inf")
        return (order, self.well, self.location, hours, self.crop, self.file_name)


def image_entries(dataset: CocoDataset) -> list[ImageEntry]:
    """Every image of ``dataset`` ordered by cell type (study order), well, location and elapsed time."""
    entries = []
    for record in dataset.images:
        try:
            meta = parse_file_name(record["file_name"])
            entries.append(ImageEntry(record["id"], record["file_name"], meta.cell_type, meta.well,
                                      meta.location, meta.elapsed_hours, meta.crop))
        except ValueError:
            entries.append(ImageEntry(record["id"], record["file_name"], dataset.cell_type(record["id"])))
    return sorted(entries, key=ImageEntry.sort_key)


def group_by_image(results: Sequence[dict], source: str = "<predictions>") -> dict[object, list[dict]]:
    """COCO results records grouped by ``image_id``; a record without one raises naming the source."""
    if not isinstance(results, list):
        raise DataError("a COCO results file must hold a list of records", file=source)
    grouped: dict[object, list[dict]] = {}
    for k, record in enumerate(results):
        if not isinstance(record, dict) or "image_id" not in record or "segmentation" not in record:
            raise DataError("record needs image_id and segmentation", file=source, record=f"result #{k}")
        grouped.setdefault(record["image_id"], []).append(record)
    return grouped


@dataclass
class BrowserData:
    """Ground truth, an image loader and each model's predictions grouped by image id."""

    dataset: CocoDataset
    load_image: Callable[[dict], np.ndarray]
    predictions: dict[str, dict[object, list[dict]]]

    @classmethod
    def from_files(cls, annotations: str | Path | CocoDataset, image_root: str | Path,
                   predictions: Mapping[str, str | Path | Sequence[dict]]) -> "BrowserData":
        """Load GT json, find images under ``image_root`` (nested or flat) and read each results json."""
        from ..data.images import read_image
        from ..data.layout import ImageLocator
        from ..eval.predictions import load_results, validate_results

        dataset = annotations if isinstance(annotations, CocoDataset) else load_coco(annotations)
        locator = ImageLocator(image_root)

        def load(record: dict) -> np.ndarray:
            path = locator.resolve(record["file_name"], record=f"image id={record['id']!r}")
            return read_image(path, expected_size=(record["width"], record["height"]))

        grouped = {name: group_by_image(load_results(src, dataset, allow_empty=True)
                                        if isinstance(src, (str, Path)) else validate_results(list(src), dataset),
                                        name)
                   for name, src in predictions.items()}
        return cls(dataset, load, grouped)

    def cell_types(self) -> list[str]:
        present = {self.dataset.cell_type(i) for i in self.dataset.image_ids}
        return [c for c in CELL_TYPES if c in present]

    @cached_property
    def entries(self) -> list[ImageEntry]:
        """Every image in well and time order (:func:`image_entries`, computed once)."""
        return image_entries(self.dataset)

    def images_of(self, cell_type: str) -> list[ImageEntry]:
        """The images of one cell type (or :data:`ALL`) in well and time order."""
        return [e for e in self.entries if cell_type == ALL or e.cell_type == cell_type]


@dataclass
class ModelView:
    """One model on one image: its predictions, their overlaps with the cells and greedy matches (all
    scores, score order) and the label image of the predictions by score rank (rank ``r`` painted as
    ``r + 1``)."""

    predictions: list[dict]
    overlaps: object
    matches: list       # greedy matching at each IoU threshold (any score threshold's is a prefix)
    labels: np.ndarray


class LruCache(OrderedDict):
    """A dict that forgets its least recently used entries beyond ``size``.

    :meth:`get_or` may be called from several threads (the browser's prefetch thread and the UI): each
    value is made once, and a thread asking for a value another thread is making waits for it rather
    than making it again (so a step onto an image whose prefetch is under way costs only its rest)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self._lock = threading.Lock()
        self._making: dict[object, threading.Event] = {}

    def get_or(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value for ``key``, made with ``make()`` (and kept) when missing."""
        while True:
            with self._lock:
                if key in self:
                    self.move_to_end(key)
                    return self[key]
                event = self._making.get(key)
                if event is None:
                    event = self._making[key] = threading.Event()
                    break
            event.wait()  # another thread is making it: take theirs (or make it, should theirs fail)
        try:
            value = make()
            with self._lock:
                self[key] = value
                while len(self) > self.size:
                    self.popitem(last=False)
            return value
        finally:
            with self._lock:
                del self._making[key]
            event.set()


def prefetch_jobs(image_ids: Sequence[object], image_id: object, shown: Sequence[str],
                  models: Sequence[str], *, direction: int = 1, max_models: int = 3) -> list[tuple[object, str]]:
    """What to compute ahead while ``shown`` models are on screen for ``image_id``: the shown models on the
    neighbouring image in ``direction`` (the next image for n, the previous for p), then up to
    ``max_models`` other ``models`` (in their listed order, best first) on this image. Bounded so the
    prefetch never pushes the shown image out of the caches."""
    jobs: list[tuple[object, str]] = []
    ids = list(image_ids)
    if image_id in ids and len(ids) > 1:
        neighbour = ids[(ids.index(image_id) + (1 if direction >= 0 else -1)) % len(ids)]
        jobs += [(neighbour, m) for m in shown]
    jobs += [(image_id, m) for m in [m for m in models if m not in shown][:max_models]]
    return jobs


class BrowserCache:
    """Caches of the browser (least recently used entries dropped, so a long session on crowded images
    stays within about 1 GB): pixels and ground truth per image, :class:`ModelView` per (image, model),
    :class:`~cellseg_nb.eval.per_image.ImageScore` per (image, model, threshold)."""

    def __init__(self, data: BrowserData, *, max_images: int = 8, max_scores: int = 512) -> None:
        self.data = data
        self._pixels = LruCache(max_images)
        self._gt = LruCache(max_images)
        self._views = LruCache(max_images)  # label image 1.5 MB, sparse overlaps ~0.15 MB per 2,000 cells
        self._outlines = LruCache(3 * max_images)
        self._scores = LruCache(max_scores)
        self._ranking: dict[tuple, dict[str, float]] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._superseded: threading.Event | None = None  # set when a newer prefetch replaces the last one
        self._prefetched: Future | None = None

    def warm(self, image_id: object, model: str, threshold: float) -> None:
        """Compute and keep everything showing ``model`` on the image at ``threshold`` needs: pixels,
        ground truth, the model's view, both outlines and the score. No matplotlib, no widgets: safe in
        a background thread."""
        self.pixels(image_id)
        self.outline(image_id)
        self.outline(image_id, model)
        self.score(image_id, model, threshold)

    def prefetch(self, jobs: Sequence[tuple[object, str]], threshold: float, *, delay: float = 0.0) -> Future:
        """:meth:`warm` each ``(image_id, model)`` of ``jobs`` in order in one background thread, starting
        after ``delay`` seconds (the browser waits until its picture has been encoded and sent, so the two
        do not compete for the CPU), so the next step or model switch finds its data cached. A later call
        supersedes this one: its jobs not yet started are dropped. Results equal computing on demand (the
        same functions fill the same caches); a job that fails is skipped, and its error shows when that
        picture is asked for. The future's result is the number of jobs done."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="browser-prefetch")
        if self._superseded is not None:
            self._superseded.set()
        superseded = self._superseded = threading.Event()
        jobs = list(jobs)

        def run() -> int:
            done = 0
            if superseded.wait(delay):
                return done
            for image_id, model in jobs:
                if superseded.is_set():  # the picture changed: what it needs comes first
                    break
                try:
                    self.warm(image_id, model, threshold)
                    done += 1
                except Exception:  # noqa: BLE001  (shown, and raised, when that picture is asked for)
                    continue
            return done

        self._prefetched = self._executor.submit(run)
        return self._prefetched

    def wait_prefetch(self, timeout: float | None = None) -> bool:
        """Wait for the latest :meth:`prefetch` to finish; False if it is still running after ``timeout``."""
        if self._prefetched is None:
            return True
        try:
            self._prefetched.result(timeout)
        except FutureTimeout:
            return False
        return True

    def pixels(self, image_id: object) -> np.ndarray:
        return self._pixels.get_or(image_id, lambda: self.data.load_image(self.data.dataset.image(image_id)))

    def ground_truth(self, image_id: object) -> tuple[list[dict], list[dict], np.ndarray]:
        """Annotations, their RLEs and their label image (annotation ``k`` painted as ``k + 1``)."""
        def make():
            from ..data.geometry import annotation_rles

            record = self.data.dataset.image(image_id)
            h, w = int(record["height"]), int(record["width"])
            anns = list(self.data.dataset.annotations_for(image_id))
            rles = annotation_rles(anns, h, w)
            return anns, rles, label_image(rles, h, w)
        return self._gt.get_or(image_id, make)

    def outline(self, image_id: object, model: str | None = None) -> np.ndarray:
        """Outline of the ground-truth label image (``model`` None) or of a model's prediction label image."""
        from .layers import label_outline

        labels = self.ground_truth(image_id)[2] if model is None else self.model_view(image_id, model).labels
        return self._outlines.get_or((image_id, model), lambda: label_outline(labels))

    def model_view(self, image_id: object, model: str) -> ModelView:
        def make():
            from ..eval.per_image import greedy_matches, image_overlaps_of

            anns, rles, _ = self.ground_truth(image_id)
            record = self.data.dataset.image(image_id)
            preds = self.data.predictions[model].get(image_id, [])
            ov = image_overlaps_of(anns, preds, rles)
            ranked = [preds[int(i)]["segmentation"] for i in ov.order]
            ranked = [{"size": s["size"], "counts": s["counts"].encode("ascii") if isinstance(s["counts"], str)
                       else s["counts"]} for s in ranked]
            labels = label_image(ranked, int(record["height"]), int(record["width"]), priority="first")
            return ModelView(preds, ov, greedy_matches(ov, ov.gt_crowd), labels)
        return self._views.get_or((image_id, model), make)

    def score(self, image_id: object, model: str, threshold: float):
        """The evaluation's :class:`~cellseg_nb.eval.per_image.ImageScore` of ``model`` on the image."""
        def make():
            from ..eval.per_image import score_image

            anns, rles, _ = self.ground_truth(image_id)
            view = self.model_view(image_id, model)
            return score_image(self.data.dataset.image(image_id), anns, view.predictions, iou_type="segm",
                               score_threshold=float(threshold), gt_rles=rles, overlaps=view.overlaps,
                               matches=view.matches)
        return self._scores.get_or((image_id, model, round(float(threshold), 6)), make)

    def model_f1(self, image_ids: Sequence[object], threshold: float) -> dict[str, float]:
        """F1 of every model pooled over ``image_ids`` (TP, FP, FN summed), for ordering the models;
        scored without filling the image caches."""
        key = (tuple(image_ids), round(float(threshold), 6))
        if key in self._ranking:
            return self._ranking[key]
        from ..data.geometry import annotation_rles
        from ..eval.per_image import score_image

        totals = {model: [0, 0, 0] for model in self.data.predictions}
        for image_id in image_ids:
            record = self.data.dataset.image(image_id)
            anns = list(self.data.dataset.annotations_for(image_id))
            rles = annotation_rles(anns, int(record["height"]), int(record["width"]))
            for model, grouped in self.data.predictions.items():
                row = score_image(record, anns, grouped.get(image_id, []), iou_type="segm",
                                  score_threshold=float(threshold), gt_rles=rles).row
                for k, name in enumerate(("TP", "FP", "FN")):
                    totals[model][k] += row[name]
        self._ranking[key] = {m: (2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else float("nan"))
                              for m, (tp, fp, fn) in totals.items()}
        return self._ranking[key]
