"""The ipywidgets prediction browser: pick a cell type, an image and a model, choose overlays and a score
threshold, and see the image with ground truth, predictions and errors plus the image's own numbers.

Errors are coloured by the evaluation's taxonomy (:mod:`cellseg_nb.eval.taxonomy`: matched, merged,
split, missed cells; matched, merged, split, spurious predictions) and the per-image numbers are the
evaluation's own per-image row (:func:`cellseg_nb.eval.per_image.score_image`), so what the browser shows
is what notebook 05's tables count. Used by notebook 06; every callback is plain Python, so it also
runs headless.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from ..celltypes import CELL_TYPES, DISPLAY_NAMES
from ..data.coco import CocoDataset, load_coco
from ..errors import DataError
from .overlay import COLORS, blend, records_outline

ALL = "all cell types"

#: Outline colours of the taxonomy classes (cells thick, predictions thin); matched cells stay plain.
PREDICTION_ERROR_COLORS: dict[str, tuple[int, int, int]] = {
    "matched": COLORS["tp"], "merged": (220, 60, 220), "split": (255, 140, 0), "spurious": COLORS["fp"]}
CELL_ERROR_COLORS: dict[str, tuple[int, int, int]] = {
    "merged": (220, 60, 220), "split": (255, 140, 0), "missed": COLORS["fn"]}
#: Per-image numbers shown beside the picture (keys of the evaluation's per-image row).
METRIC_KEYS: tuple[str, ...] = ("n_cells", "n_predictions", "TP", "FP", "FN", "precision", "recall", "F1",
                                "mSA", "SA50", "cells_merged", "cells_split", "cells_missed", "cells_boundary",
                                "preds_merged", "preds_split", "preds_spurious", "pixel_IoU")


def image_errors(record: dict, gt: Sequence[dict], preds: Sequence[dict],
                 score_threshold: float) -> tuple[list[str], list[str], dict]:
    """Taxonomy class of every cell and every prediction (in the callers' order) and the evaluation's
    per-image row, for predictions scoring at least ``score_threshold``."""
    from ..eval.matching import image_overlaps
    from ..eval.per_image import gt_rles_for_image, score_image
    from ..eval.protocol import MAX_DETS
    from ..eval.taxonomy import classify

    h, w = int(record["height"]), int(record["width"])
    kept = [p for p in preds if float(p["score"]) >= score_threshold]
    crowd = np.array([bool(a.get("iscrowd", 0)) for a in gt], dtype=bool)
    overlaps = image_overlaps(gt_rles_for_image(list(gt), h, w), crowd, [p["segmentation"] for p in kept],
                              np.array([p["score"] for p in kept], dtype=np.float64), max_dets=MAX_DETS[-1])
    taxonomy = classify(overlaps)
    pred_class = [""] * len(kept)
    for row, original in enumerate(overlaps.order):
        pred_class[int(original)] = str(taxonomy["pred_class"][row])
    row = score_image(record, list(gt), kept, iou_type="segm", score_threshold=score_threshold).row
    return [str(c) for c in taxonomy["cell_class"]], pred_class, row


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

        dataset = annotations if isinstance(annotations, CocoDataset) else load_coco(annotations)
        locator = ImageLocator(image_root)

        def load(record: dict) -> np.ndarray:
            path = locator.resolve(record["file_name"], record=f"image id={record['id']!r}")
            return read_image(path, expected_size=(record["width"], record["height"]))

        from ..eval.predictions import load_results, validate_results

        grouped = {name: group_by_image(load_results(src, dataset, allow_empty=True)
                                        if isinstance(src, (str, Path)) else validate_results(list(src), dataset),
                                        name)
                   for name, src in predictions.items()}
        return cls(dataset, load, grouped)

    def cell_types(self) -> list[str]:
        present = {self.dataset.cell_type(i) for i in self.dataset.image_ids}
        return [c for c in CELL_TYPES if c in present]

    def images_of(self, cell_type: str) -> list[dict]:
        return [img for img in self.dataset.images
                if cell_type == ALL or self.dataset.cell_type(img["id"]) == cell_type]


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


def metrics_html(metrics: Mapping[str, float]) -> str:
    """Per-image numbers as a two-column HTML table."""
    def fmt(v: float) -> str:
        if isinstance(v, float):
            return "–" if v != v else f"{v:.3f}"
        return str(v)
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td style='text-align:right'>{fmt(v)}</td></tr>"
                   for k, v in metrics.items())
    return f"<table>{rows}</table>"


class PredictionBrowser:
    """Widgets + figure. ``browser.widget`` is what a notebook displays; ``browser.metrics`` and
    ``browser.picture`` (the RGB overlay) are the current state, for tests and scripts."""

    def __init__(self, data: BrowserData, *, score_threshold: float = 0.5, figsize: tuple[float, float] = (7.0, 5.2)) -> None:
        import ipywidgets as w

        if not data.predictions:
            raise ValueError("the browser needs at least one model's predictions")
        self.data = data
        self.figsize = figsize
        self.cell_type = w.Dropdown(options=[(ALL, ALL)] + [(DISPLAY_NAMES[c], c) for c in data.cell_types()],
                                    description="cell type")
        self.image = w.Dropdown(description="image", layout=w.Layout(width="420px"))
        self.model = w.Dropdown(options=sorted(data.predictions), description="model")
        self.show_gt = w.Checkbox(value=True, description="ground truth")
        self.show_prediction = w.Checkbox(value=True, description="prediction")
        self.show_errors = w.Checkbox(value=False, description="errors by class")
        self.threshold = w.FloatSlider(value=score_threshold, min=0.0, max=1.0, step=0.05,
                                       description="min score", continuous_update=False)
        self.picture_widget = w.Image(format="png")
        self.metrics_widget = w.HTML()
        self.metrics: dict[str, float] = {}
        self.classes: dict[str, list[str]] = {"cells": [], "predictions": []}
        self.picture: np.ndarray | None = None
        self._image_cache: dict[object, np.ndarray] = {}
        self._filling = False
        self._fill_images()
        self.cell_type.observe(self._on_cell_type, names="value")
        for control in (self.image, self.model, self.show_gt, self.show_prediction, self.show_errors,
                        self.threshold):
            control.observe(self._on_control, names="value")
        self.widget = w.VBox([
            w.HBox([self.cell_type, self.image, self.model]),
            w.HBox([self.show_gt, self.show_prediction, self.show_errors]),
            self.threshold,
            w.HBox([self.picture_widget, self.metrics_widget]),
        ])
        self.render()

    # -- callbacks ---------------------------------------------------------------------------------
    def _fill_images(self) -> None:
        images = self.data.images_of(self.cell_type.value)
        self._filling = True
        try:
            self.image.options = [(img["file_name"], img["id"]) for img in images]
            self.image.value = images[0]["id"] if images else None
        finally:
            self._filling = False

    def _on_cell_type(self, _change) -> None:
        self._fill_images()
        self.render()

    def _on_control(self, _change) -> None:
        if not self._filling:
            self.render()

    def _pixels(self, record: dict) -> np.ndarray:
        if record["id"] not in self._image_cache:
            self._image_cache[record["id"]] = self.data.load_image(record)
        return self._image_cache[record["id"]]

    # -- drawing -----------------------------------------------------------------------------------
    def current_predictions(self) -> list[dict]:
        """The selected model's predictions on the selected image at or above the score threshold."""
        preds = self.data.predictions[self.model.value].get(self.image.value, [])
        return [p for p in preds if float(p.get("score", 1.0)) >= self.threshold.value]

    def render(self) -> None:
        """Recompute the overlay picture, the taxonomy classes and the per-image metrics from the widgets."""
        if self.image.value is None:
            self.picture, self.metrics = None, {}
            self.metrics_widget.value = "<p>no image of this cell type</p>"
            return
        record = self.data.dataset.image(self.image.value)
        pixels = self._pixels(record)
        h, w = pixels.shape
        gt = self.data.dataset.annotations_for(record["id"])
        preds = self.current_predictions()
        cell_class, pred_class, self.metrics = image_errors(record, gt, preds, self.threshold.value)
        self.classes = {"cells": cell_class, "predictions": pred_class}
        layers = []
        if self.show_gt.value:
            layers.append((records_outline(gt, h, w), COLORS["gt"]))
        if self.show_prediction.value:
            layers.append((records_outline(preds, h, w), COLORS["prediction"]))
        if self.show_errors.value:
            for name in PREDICTION_ERROR_COLORS:
                chosen = [p for p, c in zip(preds, pred_class) if c == name]
                layers.append((records_outline(chosen, h, w), PREDICTION_ERROR_COLORS[name]))
            for name in CELL_ERROR_COLORS:
                chosen = [g for g, c in zip(gt, cell_class) if c == name]
                layers.append((records_outline(chosen, h, w, 2), CELL_ERROR_COLORS[name]))
        self.picture = blend(pixels, layers)
        self.picture_widget.value = self._png(record)
        shown = self.metric_summary()
        self.metrics_widget.value = (f"<b>{html.escape(record['file_name'])}</b><br>model "
                                     f"<code>{html.escape(self.model.value)}</code>, score &ge; "
                                     f"{self.threshold.value:.2f}" + metrics_html(shown) + self._legend())

    def _legend(self) -> str:
        entries = []
        if self.show_gt.value:
            entries.append((COLORS["gt"], "ground truth"))
        if self.show_prediction.value:
            entries.append((COLORS["prediction"], "prediction"))
        if self.show_errors.value:
            entries += [(c, f"prediction: {n}") for n, c in PREDICTION_ERROR_COLORS.items()]
            entries += [(c, f"cell: {n} (thick)") for n, c in CELL_ERROR_COLORS.items()]
        return "".join(f"<span style='color:rgb{color};font-weight:600'>&#9632; {label}</span><br>"
                       for color, label in entries)

    def metric_summary(self) -> dict[str, float]:
        """The per-image numbers shown beside the picture (a subset of :attr:`metrics`)."""
        return {k: self.metrics[k] for k in METRIC_KEYS if k in self.metrics}

    def snapshot(self):
        """The current picture as a figure (for static reports, where widgets do not render)."""
        from .plots import _figure

        record = self.data.dataset.image(self.image.value)
        fig = _figure(*self.figsize)
        ax = fig.add_subplot()
        ax.imshow(self.picture, interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(f"{record['file_name']} | {self.model.value} | score >= {self.threshold.value:.2f}", fontsize=8)
        return fig

    def _png(self, record: dict) -> bytes:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=self.figsize)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.imshow(self.picture, interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(record["file_name"], fontsize=8)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()


def browse(annotations: str | Path | CocoDataset, image_root: str | Path,
           predictions: Mapping[str, str | Path | Sequence[dict]], **options) -> PredictionBrowser:
    """Build the browser from files (what notebook 06 calls); display ``browser.widget``."""
    return PredictionBrowser(BrowserData.from_files(annotations, image_root, predictions), **options)
