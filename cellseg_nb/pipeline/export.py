"""HTML exports of executed notebooks: one with code (for the analyst) and a clean one (for readers).

Both are self-contained (images embedded) and offline: JupyterLab's export template is used without
its CDN scripts (require.js, MathJax, mermaid, the widget manager), so a report opens from ``file://``
with no network access, no console errors and no requests to third parties. Live widgets render only
in JupyterLab; notebooks save a static snapshot next to them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import nbformat

from ..atomic import atomic_write_text

#: JupyterLab's template minus every block that loads a script from a CDN.
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def notebook_to_html(notebook_path: str | Path, *, with_code: bool = True) -> str:
    """Render an executed notebook as standalone offline HTML; ``with_code=False`` hides inputs and prompts."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", embed_images=True, template_file="cellseg_offline.html.j2",
                            extra_loaders=[DictLoader({"cellseg_offline.html.j2": OFFLINE_TEMPLATE})])
    exporter.log.setLevel(logging.ERROR)  # matplotlib PNG outputs carry no alt text; not worth a warning each
    if not with_code:
        exporter.exclude_input = True
        exporter.exclude_input_prompt = True
        exporter.exclude_output_prompt = True
    nb = nbformat.read(str(notebook_path), as_version=4)
    body, _ = exporter.from_notebook_node(nb)
    return body


def export_notebook(notebook_path: str | Path, report_dir: str | Path) -> tuple[Path, Path]:
    """Write ``<stem>.html`` (with code) and ``<stem>.clean.html`` (outputs only) atomically into ``report_dir``."""
    notebook_path = Path(notebook_path)
    report_dir = Path(report_dir)
    full = atomic_write_text(report_dir / f"{notebook_path.stem}.html", notebook_to_html(notebook_path))
    clean = atomic_write_text(report_dir / f"{notebook_path.stem}.clean.html",
                              notebook_to_html(notebook_path, with_code=False))
    return full, clean
