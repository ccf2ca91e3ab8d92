"""The prediction browser (notebook 06): pick a cell type, an image (listed by well and elapsed time)
and a model; see ground truth and predictions filled or outlined, coloured plain or by the evaluation's
error class; move the score threshold; click an object to see its class, IoU and score; compare two
models side by side; step through images with the keyboard (n / p or the arrow keys).

The picture is an ipympl canvas (matplotlib's Jupyter widget): zoom and pan at full resolution from its
toolbar or the mouse wheel, click and key events through matplotlib's event API, true aspect ratio from
``imshow``. Why ipympl: it is the one canvas widget that gives zoom, pan, clicks *and* keyboard events
without extra front-end code, it ships its JupyterLab extension prebuilt (works offline), and drawing a
704 x 520 overlay through Agg takes tens of milliseconds (``benchmarks/browser_timings.py``).

Every number and colour comes from the evaluation's per-image score and matching
(:class:`~cellseg_nb.eval.per_image.ImageMatching`), cached per image, model and threshold in
:class:`~cellseg_nb.viz.browser_data.BrowserCache`. Every callback is plain Python, so the browser also
runs headless (tests, scripts).
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..celltypes import DISPLAY_NAMES
from ..data.coco import CocoDataset
from .browser_data import ALL, BrowserCache, BrowserData, LruCache, group_by_image, prefetch_jobs  # noqa: F401
from .browser_html import legend_html, metrics_html
from .layers import MEANING_COLORS, class_lut, grey_rgb, paint, plain_lut

NONE = "none"
#: Per-image numbers shown beside the picture (keys of the evaluation's per-image row).
METRIC_KEYS: tuple[str, ...] = ("n_cells", "n_predictions", "TP", "FP", "FN", "precision", "recall", "F1",
                                "mSA", "SA50", "cells_merged", "cells_split", "cells_missed", "cells_boundary",
                                "preds_merged", "preds_split", "preds_spurious", "pixel_IoU")
NEXT_KEYS, PREVIOUS_KEYS = ("n", "right", "down", "pagedown"), ("p", "left", "up", "pageup")
#: The prefetch starts this long after a picture, once ipympl has rendered and encoded it (~0.1 s).
PREFETCH_DELAY_S = 0.25


class PredictionBrowser:
    """Widgets + figure. ``browser.widget`` is what a notebook displays. The current state, for tests and
    scripts: ``metrics`` (the evaluation's row), ``matching`` (per-object classes), ``classes``,
    ``pictures`` (one RGB array per panel; ``picture`` is the first) and ``last_render_s``.

    Models are listed best first by F1 at ``score_threshold`` pooled over the images (at most
    ``rank_images`` of them, spread evenly over the list, so opening stays quick on a full test set);
    ``model`` picks the first one shown instead of the best. With ``prefetch`` (default) each picture
    starts a background computation of the neighbouring image and the other models
    (:meth:`BrowserCache.prefetch`), so the next n / p or model switch finds its data cached."""

    def __init__(self, data: BrowserData, *, score_threshold: float = 0.5, model: str | None = None,
                 panel_width: float = 6.0, dpi: int = 100, rank_images: int = 48, prefetch: bool = True) -> None:
        import ipywidgets as w

        if not data.predictions:
            raise ValueError("the browser needs at least one model's predictions")
        self.data, self.cache = data, BrowserCache(data)
        self._painted = LruCache(32)  # pictures by image, model, threshold and style (1 MB each)
        self.panel_width, self.dpi = panel_width, dpi
        self.prefetch, self._direction = prefetch, 1
        ids = [e.id for e in data.images_of(ALL)]
        if len(ids) > rank_images:  # rank on images spread evenly over the list (all cell types)
            ids = [ids[int(k)] for k in np.linspace(0, len(ids) - 1, rank_images)]
        ranking = self.cache.model_f1(ids, score_threshold)
        models = sorted(data.predictions, key=lambda m: (-np.nan_to_num(ranking[m], nan=-1.0), m))
        options = [(f"{m} (F1 {ranking[m]:.3f})" if ranking[m] == ranking[m] else m, m) for m in models]
        if model is not None and model not in data.predictions:
            raise ValueError(f"unknown model {model!r}; models: {', '.join(models)}")
        self.cell_type = w.Dropdown(options=[(ALL, ALL)] + [(DISPLAY_NAMES[c], c) for c in data.cell_types()],
                                    description="cell type")
        self.image = w.Dropdown(description="image", layout=w.Layout(width="520px"))
        self.previous = w.Button(description="◀", tooltip="previous image (p or ←)", layout=w.Layout(width="40px"))
        self.next = w.Button(description="▶", tooltip="next image (n or →)", layout=w.Layout(width="40px"))
        self.model = w.Dropdown(options=options, value=model or models[0], description="model",
                                tooltip="models ordered by F1 over the images (up to rank_images of them), best first")
        self.compare = w.Dropdown(options=[(NONE, NONE)] + options, value=NONE, description="compare with",
                                  style={"description_width": "initial"},
                                  tooltip="a second model side by side (zoom and pan together)")
        self.show_gt = w.Checkbox(value=True, description="ground truth", indent=False)
        self.show_prediction = w.Checkbox(value=True, description="prediction", indent=False)
        self.show_errors = w.Checkbox(value=False, description="colour by error class", indent=False)
        self.filled = w.ToggleButtons(options=["outlined", "filled"], value="outlined", description="labels")
        self.opacity = w.FloatSlider(value=0.45, min=0.05, max=1.0, step=0.05, description="fill opacity",
                                     continuous_update=False, tooltip="opacity of filled labels")
        self.threshold = w.FloatSlider(value=score_threshold, min=0.0, max=1.0, step=0.05,
                                       description="min score", continuous_update=False,
                                       tooltip="predictions scoring below are left out")
        self.busy = w.HTML(value="", layout=w.Layout(min_width="110px"))
        self.metrics_widget, self.legend_widget, self.info = w.HTML(), w.HTML(), w.HTML(
            value="<i>click a cell or a prediction to inspect it</i>")
        self.metrics: dict = {}
        self.matching = None
        self.classes: dict[str, list[str]] = {"cells": [], "predictions": []}
        self.pictures: list[np.ndarray] = []
        self.last_render_s = 0.0
        self._filling = False
        self._build_figure()
        self._fill_images()
        self.cell_type.observe(self._on_cell_type, names="value")
        for control in (self.image, self.model, self.compare, self.show_gt, self.show_prediction,
                        self.show_errors, self.filled, self.opacity, self.threshold):
            control.observe(self._on_control, names="value")
        self.previous.on_click(lambda _b: self.step(-1))
        self.next.on_click(lambda _b: self.step(1))
        self.widget = w.VBox([
            w.HBox([self.cell_type, self.previous, self.image, self.next]),
            w.HBox([self.model, self.compare, self.busy]),
            w.HBox([self.threshold, self.filled, self.opacity]),
            w.HBox([self.show_gt, self.show_prediction, self.show_errors]),
            self.legend_widget,
            w.HBox([self.canvas, w.VBox([self.metrics_widget, self.info],
                                        layout=w.Layout(min_width="230px", max_width="360px"))],
                   layout=w.Layout(align_items="flex-start", flex_flow="row wrap")),
        ])
        self.render()

    # -- figure ------------------------------------------------------------------------------------
    def _build_figure(self) -> None:
        from ipympl.backend_nbagg import Canvas, FigureManager
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(self.panel_width, self.panel_width * 0.75), dpi=self.dpi)
        self.canvas = Canvas(self.figure)
        self._manager = FigureManager(self.canvas, 0)
        handler = getattr(self._manager, "key_press_handler_id", None)
        if handler is not None:  # matplotlib's default keys ('p' = pan, 'left' = back) would fight ours
            self.canvas.mpl_disconnect(handler)
        self.canvas.toolbar_visible = "visible"  # zoom, pan and home always on show
        self.canvas.header_visible = False
        self.canvas.footer_visible = False
        self.canvas.capture_scroll = True
        self.canvas.toolbar_position = "top"
        self.canvas.mpl_connect("button_press_event", self._on_click)
        self.canvas.mpl_connect("key_press_event", self._on_key)
        self.canvas.mpl_connect("scroll_event", self._on_scroll)
        self.axes: list = []
        self._artists: list = []
        self._layouts: dict[tuple[int, int, int], tuple[list, list]] = {}
        self._shape: tuple[int, int, int] | None = None

    def _layout(self, panels: int, height: int, width: int) -> None:
        """Show one axes per panel, side by side, each with its image at the true aspect ratio (each
        layout is created once and kept hidden while another is shown).

        The figure takes the first image's aspect ratio once and is never resized from Python: ipympl's
        front end can miss a redraw after a size change it did not ask for (the second panel stays
        black). A comparison therefore shares the width; the user can enlarge the figure with its
        resize handle, and zoom and pan work on both panels together."""
        key = (panels, height, width)
        if self._shape == key:
            return
        if self._shape is None:
            self.figure.set_size_inches(self.panel_width, self.panel_width * height / width)
        for ax in self.axes:  # layouts are kept (hidden), so switching back and forth costs nothing
            ax.set_visible(False)
        if key not in self._layouts:
            axes, artists = [], []
            for k in range(panels):
                ax = self.figure.add_axes((k / panels, 0.0, 1.0 / panels, 1.0),
                                          sharex=axes[0] if axes else None, sharey=axes[0] if axes else None)
                ax.set_axis_off()
                artists.append(ax.imshow(np.zeros((height, width, 3), np.uint8), interpolation="nearest"))
                axes.append(ax)
            self._layouts[key] = (axes, artists)
        self.axes, self._artists = self._layouts[key]
        for ax in self.axes:
            ax.set_visible(True)
        self._shape = key

    # -- callbacks ---------------------------------------------------------------------------------
    def _fill_images(self) -> None:
        entries = self.data.images_of(self.cell_type.value)
        self._filling = True
        try:
            self.image.options = [(e.label, e.id) for e in entries]
            self.image.value = entries[0].id if entries else None
        finally:
            self._filling = False

    def _on_cell_type(self, _change) -> None:
        self._fill_images()
        self.render()

    def _on_control(self, change) -> None:
        if self._filling:
            return
        self.render(reset_view=change["owner"] in (self.image, self.compare))

    def step(self, offset: int) -> None:
        """Show the next (``offset`` 1) or previous (-1) image of the list, wrapping around."""
        ids = [value for _, value in self.image.options]
        self._direction = 1 if offset >= 0 else -1  # prefetch ahead in the direction of travel
        if ids:
            self.image.value = ids[(ids.index(self.image.value) + offset) % len(ids)]

    def _on_key(self, event) -> None:
        key = (event.key or "").lower()
        if key in NEXT_KEYS:
            self.step(1)
        elif key in PREVIOUS_KEYS:
            self.step(-1)

    def _on_scroll(self, event) -> None:
        if event.inaxes is None or event.xdata is None:
            return
        factor = 1 / 1.25 if event.button == "up" else 1.25
        ax = event.inaxes
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        ax.set_xlim(event.xdata + (x0 - event.xdata) * factor, event.xdata + (x1 - event.xdata) * factor)
        ax.set_ylim(event.ydata + (y0 - event.ydata) * factor, event.ydata + (y1 - event.ydata) * factor)
        self.canvas.draw_idle()

    def _on_click(self, event) -> None:
        toolbar = getattr(self.canvas, "toolbar", None)
        if event.inaxes is None or event.xdata is None or str(getattr(toolbar, "mode", "")):
            return
        panel = self.axes.index(event.inaxes) if event.inaxes in self.axes else 0
        self.inspect(int(round(event.xdata)), int(round(event.ydata)), panel)

    # -- what is shown -----------------------------------------------------------------------------
    def panel_models(self) -> list[str]:
        return [self.model.value] + ([self.compare.value] if self.compare.value not in (NONE, None) else [])

    def inspect(self, x: int, y: int, panel: int = 0) -> dict:
        """What lies at pixel (x, y) of a panel: the cell and the prediction there, each with its class,
        best IoU and (predictions) score. Shown in the info box and returned."""
        model = self.panel_models()[min(panel, len(self.panel_models()) - 1)]
        _, _, gt_labels = self.cache.ground_truth(self.image.value)
        view = self.cache.model_view(self.image.value, model)
        matching = self.cache.score(self.image.value, model, self.threshold.value).matching
        h, w = gt_labels.shape
        found: dict = {"x": x, "y": y, "model": model}
        if 0 <= x < w and 0 <= y < h:
            cell = int(gt_labels[y, x]) - 1
            if cell >= 0:
                found["cell"] = {"index": cell, "class": str(matching.cell_class[cell]),
                                 "iou": float(matching.cell_iou[cell]),
                                 "boundary": bool(matching.boundary[cell])}
            rank = int(view.labels[y, x]) - 1
            if 0 <= rank < len(matching.pred_index):
                found["prediction"] = {"index": int(matching.pred_index[rank]),
                                       "class": str(matching.pred_class[rank]),
                                       "iou": float(matching.pred_iou[rank]),
                                       "score": float(matching.pred_score[rank])}
        parts = [f"<b>pixel ({x}, {y})</b>, model <code>{html.escape(model)}</code>"]
        if "cell" in found:
            c = found["cell"]
            parts.append(f"cell #{c['index']}: <b>{c['class']}</b>{' (poor outline)' if c['boundary'] else ''}, "
                         f"best IoU {c['iou']:.3f}")
        if "prediction" in found:
            p = found["prediction"]
            parts.append(f"prediction #{p['index']}: <b>{p['class']}</b>, IoU {p['iou']:.3f}, "
                         f"score {p['score']:.3f}")
        if len(parts) == 1:
            parts.append("background")
        self.info.value = "<br>".join(parts)
        return found

    def render(self, reset_view: bool = True) -> None:
        """Recompute the pictures, classes and numbers from the widgets and redraw the canvas."""
        start = time.perf_counter()
        self.busy.value = "<span style='color:#b35900'>&#9203; updating&hellip;</span>"
        try:
            self._render(reset_view)
        finally:
            self.last_render_s = time.perf_counter() - start
            self.busy.value = f"<span style='color:#666'>ready ({1000 * self.last_render_s:.0f} ms)</span>"

    def _render(self, reset_view: bool) -> None:
        if self.image.value is None:
            self.pictures, self.metrics, self.matching = [], {}, None
            self.metrics_widget.value = "<p>no image of this cell type</p>"
            return
        image_id = self.image.value
        pixels = self.cache.pixels(image_id)
        h, w = pixels.shape[:2]
        models = self.panel_models()
        self._layout(len(models), h, w)
        self.pictures = []
        for k, model in enumerate(models):
            score = self.cache.score(image_id, model, self.threshold.value)
            picture = self.picture_of(image_id, model, score.matching)
            self.pictures.append(picture)
            self._artists[k].set_data(picture)
            self._artists[k].set_extent((-0.5, w - 0.5, h - 0.5, -0.5))
            if k == 0:
                self.metrics, self.matching = score.row, score.matching
            self.axes[k].set_title(model, fontsize=9, loc="left", y=1.0, pad=-12,
                                   color="white", backgroundcolor=(0, 0, 0, 0.5))
        if reset_view:  # a new image or panel layout: the whole image; otherwise keep the zoom
            self.axes[0].set_xlim(-0.5, w - 0.5)
            self.axes[0].set_ylim(h - 0.5, -0.5)
        self.classes = {"cells": [str(c) for c in self.matching.cell_class],
                        "predictions": [str(c) for c in self.matching.pred_class]}
        self.canvas.draw_idle()
        self._write_panels(image_id, models)
        if self.prefetch:
            self.cache.prefetch(prefetch_jobs([v for _, v in self.image.options], image_id, models,
                                              [v for _, v in self.model.options], direction=self._direction),
                                self.threshold.value, delay=PREFETCH_DELAY_S)

    def picture_of(self, image_id: object, model: str, matching) -> np.ndarray:
        """The RGB picture of one panel: the image with the chosen layers painted on it (the last few
        dozen kept, so going back to a previous setting or toggling a comparison repaints nothing)."""
        key = (image_id, model, round(float(self.threshold.value), 6), self.show_gt.value,
               self.show_prediction.value, self.show_errors.value, self.filled.value, float(self.opacity.value))
        return self._painted.get_or(key, lambda: self._paint(image_id, model, matching))

    def _paint(self, image_id: object, model: str, matching) -> np.ndarray:
        _, _, gt_labels = self.cache.ground_truth(image_id)
        view = self.cache.model_view(image_id, model)
        rgb = grey_rgb(self.cache.pixels(image_id))
        filled, opacity = self.filled.value == "filled", float(self.opacity.value)
        if self.show_gt.value:
            lut = (class_lut(np.where(matching.crowd, "ignored", matching.cell_class)) if self.show_errors.value
                   else plain_lut(len(matching.cell_class), MEANING_COLORS["ground truth"]))
            paint(rgb, gt_labels, lut, filled=filled, opacity=opacity, outline=self.cache.outline(image_id))
        if self.show_prediction.value:
            n_keep = len(matching.pred_index)
            n_all = int(view.labels.max()) if view.labels.size else 0
            lut = np.zeros((max(n_all, n_keep) + 1, 3), dtype=np.float32)
            if self.show_errors.value:
                lut[: n_keep + 1] = class_lut(matching.pred_class)
            else:
                lut[: n_keep + 1] = MEANING_COLORS["prediction"]
            visible = np.arange(len(lut)) <= n_keep
            labels = np.where(visible[view.labels], view.labels, 0)
            paint(rgb, labels, lut, filled=filled, opacity=opacity, outline=self.cache.outline(image_id, model))
        return np.clip(rgb, 0, 255).astype(np.uint8)

    @property
    def picture(self) -> np.ndarray | None:
        return self.pictures[0] if self.pictures else None

    def _write_panels(self, image_id: object, models: list[str]) -> None:
        entry = next(e for e in self.data.images_of(ALL) if e.id == image_id)
        rows = {m: self.cache.score(image_id, m, self.threshold.value).row for m in models}
        columns = {m: {k: row[k] for k in METRIC_KEYS if k in row} for m, row in rows.items()}
        header = (f"<b>{html.escape(entry.label)}</b><br><small>{html.escape(entry.file_name)}</small><br>"
                  f"model <code>{html.escape(models[0])}</code>, score &ge; {self.threshold.value:.2f}")
        self.metrics_widget.value = header + metrics_html(columns)
        names = []
        if self.show_gt.value:
            names += ["matched", "merged", "split", "missed"] if self.show_errors.value else ["ground truth"]
        if self.show_prediction.value:
            names += (["matched", "merged", "split", "spurious"] if self.show_errors.value else ["prediction"])
        present: set[str] = set()  # classes on screen, in any panel
        for m in models:
            matching = self.cache.score(image_id, m, self.threshold.value).matching
            present |= set(matching.cell_class[~matching.crowd]) if self.show_gt.value else set()
            present |= set(matching.pred_class) if self.show_prediction.value else set()
        names = [n for n in dict.fromkeys(names) if not self.show_errors.value or n in present]
        self.legend_widget.value = legend_html(names)

    def metric_summary(self) -> dict:
        """The per-image numbers shown beside the picture (a subset of :attr:`metrics`)."""
        return {k: self.metrics[k] for k in METRIC_KEYS if k in self.metrics}

    def metrics_table(self):
        """The shown per-image numbers as a one-row table per panel model, percent metrics in percent
        (for reports)."""
        import pandas as pd

        from ..eval.tables import PERCENT_METRICS, metric_label

        rows = []
        for model in self.panel_models():
            row = self.cache.score(self.image.value, model, self.threshold.value).row
            rows.append({"model": model, "image": row["file_name"], **{
                metric_label(k): 100 * row[k] if k in PERCENT_METRICS else row[k] for k in METRIC_KEYS if k in row}})
        return pd.DataFrame(rows)

    def snapshot(self):
        """The current pictures as a static figure (for reports, where widgets do not render)."""
        from .plots import _figure

        entry = next(e for e in self.data.images_of(ALL) if e.id == self.image.value)
        h, w = self.pictures[0].shape[:2]
        n = len(self.pictures)
        fig = _figure(4.5 * n, 4.5 * h / w + 0.4)
        for k, (picture, model) in enumerate(zip(self.pictures, self.panel_models())):
            ax = fig.add_subplot(1, n, k + 1)
            ax.imshow(picture, interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(f"{model} | score >= {self.threshold.value:.2f}", fontsize=8)
        fig.suptitle(entry.label, fontsize=8)
        return fig


def browse(annotations: str | Path | CocoDataset, image_root: str | Path,
           predictions: Mapping[str, str | Path | Sequence[dict]], **options) -> PredictionBrowser:
    """Build the browser from files (what notebook 06 calls); display ``browser.widget``."""
    return PredictionBrowser(BrowserData.from_files(annotations, image_root, predictions), **options)
