"""``reports/<name>/index.html``: links to every notebook's reports and the run's headline tables and figures.

The page is self-contained (figures are embedded as data URIs, no scripts, no external resources), so it
opens from ``file://`` in any browser and can be mailed or archived on its own.
"""

from __future__ import annotations

import base64
import html
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..atomic import atomic_write_text
from .artifacts import Artifact, list_artifacts
from .config import RunConfig

STATUS_FILE = "status.json"

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} .meta{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.6rem 0 .4rem;font-size:.9rem}
.scroll{overflow-x:auto;max-width:100%;margin-bottom:1rem} .glossary{color:#666;font-size:.8rem;max-width:60rem}
th,td{border:1px solid #ccc;padding:.25rem .55rem;text-align:right} th{background:#f2f2f2}
td:first-child,th:first-child{text-align:left}
.ok{color:#1a7f37;font-weight:600} .failed{color:#c62828;font-weight:600} .pending{color:#888}
figure{margin:.6rem 0 1.4rem} figure img{max-width:100%;border:1px solid #ddd}
figcaption,.caption{color:#555;font-size:.85rem} section{border-top:1px solid #ddd;margin-top:1.5rem}
"""


def read_status(run_dir: str | Path) -> dict[str, dict]:
    """The runner's per-notebook status (``{notebook: {status, duration_s, finished, error}}``)."""
    path = Path(run_dir) / STATUS_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class _Link:
    label: str
    href: str


def _href(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


def _format_cell(value: object, column: str = "") -> str:
    """A number as the study prints it: one decimal in percent columns (``... (%)``), three decimals for
    other fractions, whole numbers without decimals; NaN as a dash."""
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        if column.endswith("(%)"):
            return f"{value:.1f}"
        if value == int(value) and abs(value) >= 1:
            return str(int(value))
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.1f}"
    return str(value)


def _is_index_column(name: object, values: pd.Series) -> bool:
    """A pandas index written into a CSV by mistake: ``Unnamed: 0`` or ``index`` holding 0, 1, 2, ..."""
    if str(name).startswith("Unnamed:"):
        return True
    return str(name) == "index" and values.tolist() == list(range(len(values)))


def table_html(table: pd.DataFrame, *, max_rows: int = 60) -> str:
    """A compact HTML table: no index columns, numbers as the study prints them, wide tables scroll
    sideways, a glossary line for the metric names, long tables cut with a note."""
    from ..eval.tables import glossary_line

    table = table[[c for c in table.columns if not _is_index_column(c, table[c])]]
    shown = table.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    columns = [str(c) for c in shown.columns]
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(_format_cell(v, c))}</td>" for v, c in zip(row, columns))
                   + "</tr>" for row in shown.itertuples(index=False))
    note = "" if len(table) <= max_rows else f'<p class="caption">first {max_rows} of {len(table)} rows</p>'
    glossary = glossary_line(columns)
    glossary = f'<p class="glossary">{html.escape(glossary)}</p>' if glossary else ""
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'
            f"{note}{glossary}")


def _artifact_html(artifact: Artifact) -> str:
    title = f"<h3>{html.escape(artifact.title)}</h3>"
    caption = f'<p class="caption">{html.escape(artifact.caption)}</p>' if artifact.caption else ""
    if artifact.kind == "figure":
        data = base64.b64encode(artifact.path.read_bytes()).decode("ascii")
        return (f'{title}<figure><img alt="{html.escape(artifact.title)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(artifact.caption)}</figcaption></figure>")
    try:
        table = pd.read_csv(artifact.path)
    except pd.errors.EmptyDataError:  # a notebook saved a table with no columns (nothing to show)
        return title + caption + '<p class="caption">(no rows)</p>'
    if table.empty:
        return title + caption + '<p class="caption">(no rows)</p>'
    return title + caption + table_html(table)


def notebook_title(path: Path) -> str:
    """The first Markdown heading of a notebook (its title), or its file stem."""
    if path.is_file():
        try:
            cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        except (OSError, json.JSONDecodeError):
            cells = []
        for cell in cells:
            if cell.get("cell_type") == "markdown":
                source = "".join(cell.get("source", ""))
                for line in source.splitlines():
                    if line.startswith("#"):
                        return line.lstrip("#").strip()
    return path.stem


def render_index(config: RunConfig) -> str:
    """The index page of a run as HTML text."""
    run_dir, report_dir = config.run_dir, config.report_dir
    status = read_status(run_dir)
    rows = []
    sections = []
    for step in config.notebooks:
        info = status.get(step.name, {})
        state = info.get("status", "not run")
        css = {"ok": "ok", "failed": "failed"}.get(state, "pending")
        links = [_Link("report", f"{step.name}.html"), _Link("clean report", f"{step.name}.clean.html")]
        links = [l for l in links if (report_dir / l.href).is_file()]
        executed = run_dir / f"{step.name}.ipynb"
        if executed.is_file():
            links.append(_Link("notebook", _href(executed, report_dir)))
        link_html = " · ".join(f'<a href="{html.escape(l.href)}">{l.label}</a>' for l in links)
        duration = info.get("duration_s")
        error = html.escape(info.get("error", ""))
        title = notebook_title(executed)
        rows.append(f"<tr><td>{html.escape(title)}</td><td class=\"{css}\">{html.escape(state)}</td>"
                    f"<td>{'' if duration is None else f'{duration:.1f} s'}</td><td>{link_html}</td>"
                    f"<td>{error}</td></tr>")
        artifacts = list_artifacts(run_dir, step.name)
        if artifacts:
            body = "".join(_artifact_html(a) for a in artifacts)
            sections.append(f'<section id="{html.escape(step.name)}"><h2>{html.escape(title)}</h2>{body}</section>')
    description = f"<p>{html.escape(config.description)}</p>" if config.description else ""
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>cellseg-nb run {html.escape(config.name)}</title><style>{_CSS}</style></head><body>"
        f"<h1>cellseg-nb run <code>{html.escape(config.name)}</code></h1>"
        f'<p class="meta">seed {config.seed} · device {html.escape(config.device)} · data '
        f"<code>{html.escape(str(config.data_root))}</code></p>{description}"
        "<h2>Notebooks</h2><table><thead><tr><th>notebook</th><th>status</th><th>time</th><th>reports</th>"
        f"<th>error</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"{''.join(sections)}</body></html>"
    )


def write_index(config: RunConfig) -> Path:
    """Write ``reports/<name>/index.html`` atomically and return its path."""
    return atomic_write_text(config.report_dir / "index.html", render_index(config))
