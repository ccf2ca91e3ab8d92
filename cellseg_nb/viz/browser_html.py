"""The prediction browser's HTML panels: the per-image numbers (one column per model, each metric's
meaning as tooltip) and the legend of the colours on screen."""

from __future__ import annotations

import html
from typing import Mapping, Sequence

from ..eval.tables import GLOSSARY, PERCENT_METRICS, format_metric
from .layers import CLASS_HELP, MEANING_COLORS


def metrics_html(columns: Mapping[str, Mapping[str, object]]) -> str:
    """Per-image numbers as an HTML table, one column per model; each metric's name carries its glossary
    entry as tooltip. ``columns`` maps a model to its numbers (the keys of the first are the rows)."""
    names = list(next(iter(columns.values()), {}))
    head = "".join(f"<th style='text-align:right'>{html.escape(m)}</th>" for m in columns) if len(columns) > 1 else ""
    rows = "".join(
        f"<tr title='{html.escape(GLOSSARY.get(k, k), quote=True)}'><td><abbr>{html.escape(k)}</abbr></td>"
        + "".join(f"<td style='text-align:right'>{format_metric(k, col.get(k))}"
                  f"{' %' if k in PERCENT_METRICS else ''}</td>" for col in columns.values()) + "</tr>"
        for k in names)
    return f"<table class='cellseg-metrics'>{'<tr><th></th>' + head + '</tr>' if head else ''}{rows}</table>"


def legend_html(entries: Sequence[str], note: str = "") -> str:
    """Swatches for the colours on screen (only those), each with what it means as a tooltip."""
    items = "".join(
        f"<span title='{html.escape(CLASS_HELP.get(name, name), quote=True)}' style='margin-right:.8em;"
        f"white-space:nowrap'><span style='display:inline-block;width:.9em;height:.9em;vertical-align:-.1em;"
        f"background:rgb{MEANING_COLORS[name]}'></span> {html.escape(name)}</span>" for name in entries)
    return f"<div class='cellseg-legend'>{items}{html.escape(note)}</div>"
