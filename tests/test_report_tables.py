"""Report tables and figures read well: no index columns, the study's number formats, a glossary line,
wide tables scroll, per-well growth only where a well has several time points, legends off the data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cellseg_nb.eval.tables import PERCENT_METRICS, format_metric, glossary_line
from cellseg_nb.pipeline.index import table_html
from cellseg_nb.viz import plots, report


def test_metric_formats_follow_the_study():
    assert format_metric("AP", 0.4567) == "45.7" and format_metric("AFNR", 0.25) == "25.0"
    assert format_metric("F1", 0.61234) == "0.612" and format_metric("TP", np.int64(7)) == "7"
    assert format_metric("F1", float("nan")) == "-"
    assert report.PERCENT_METRICS is PERCENT_METRICS  # one definition, shared


def test_glossary_line_explains_each_metric_once():
    line = glossary_line(["set", "unet F1", "unet AP (%)", "classical F1", "count R2", "images"])
    assert line.startswith("F1: harmonic mean") and line.count("F1:") == 1
    assert "AP: COCO average precision" in line and "count R2:" in line and "images" not in line


def test_index_table_drops_pandas_index_formats_numbers_and_scrolls():
    table = pd.DataFrame({"Unnamed: 0": [0, 1], "set": ["LIVECell", "BV-2"], "u F1": [0.61234, np.nan],
                          "u AP (%)": [45.67, 12.0], "images": [3.0, 2.0]})
    page = table_html(table)
    assert "Unnamed" not in page and "<th>set</th>" in page
    assert "<td>0.612</td>" in page and "<td>45.7</td>" in page and "<td>12.0</td>" in page
    assert "<td>–</td>" in page and "<td>3</td>" in page
    assert page.startswith('<div class="scroll">') and "F1: harmonic mean" in page


def test_notebook_table_has_no_index_and_percent_columns_one_decimal():
    shown = report.show(pd.DataFrame({"model": ["u"], "F1": [0.61234], "AP (%)": [45.678]}), caption="test split")
    page = shown._repr_html_()
    assert ">0.612<" in page and ">45.7<" in page and "overflow-x:auto" in page
    assert "test split" in page and "harmonic mean" in page
    assert 'class="row_heading' not in page  # the index is hidden


def test_growth_per_well_only_where_a_well_has_several_time_points():
    growth = pd.DataFrame({"cell_type": ["A172"] * 3 + ["BV2"], "well": ["B7", "B7", "C1", "D2"],
                           "elapsed_hours": [0.0, 24.0, 12.0, 0.0], "source": "GT",
                           "count": [10, 30, 5, 4], "confluence": [0.1, 0.3, 0.05, 0.04]})
    per_well = report.growth_summary(growth)
    assert per_well[["cell_type", "well"]].values.tolist() == [["A172", "B7"]]
    assert per_well["count per 24 h"].tolist() == [20.0]
    per_type = report.growth_summary(growth, by=["cell_type"])
    assert per_type["cell_type"].tolist() == ["A172", "BV-2"] and np.isnan(per_type["count per 24 h"].iloc[1])


def test_legends_sit_outside_the_panels():
    from cellseg_nb.viz.growth import growth_per_well

    table = pd.DataFrame({"cell_type": ["A172"] * 4, "elapsed_hours": [0, 24, 0, 24], "source": ["GT", "GT", "m", "m"],
                          "well": ["B2"] * 4, "count": [1, 2, 1, 3]})
    fig = growth_per_well(table, "count", series="source")
    fig.canvas.draw()
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    legend_box = fig.legends[0].get_window_extent()
    panel_box = fig.axes[0].get_window_extent()
    assert legend_box.x0 >= panel_box.x1  # right of the data, not over it
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["GT: one well", "m: one well"]


def test_index_shows_an_empty_table_as_no_rows(tmp_path):
    from cellseg_nb.pipeline.artifacts import RunArtifacts
    from cellseg_nb.pipeline.index import _artifact_html
    from cellseg_nb.pipeline.artifacts import list_artifacts

    art = RunArtifacts(tmp_path, "nb")
    art.save_table("nothing", pd.DataFrame(), title="Nothing")
    art.save_table("no_rows", pd.DataFrame(columns=["well", "slope"]), title="No rows")
    pages = [_artifact_html(a) for a in list_artifacts(tmp_path, "nb")]
    assert len(pages) == 2 and all("(no rows)" in page and "<table" not in page for page in pages)


def test_wide_table_scrolls_inside_the_exported_report(tmp_path):
    """In an exported notebook, a table wider than the page scrolls inside its output; the page itself
    does not get wider than the window."""
    import nbformat
    import pytest

    from cellseg_nb.pipeline.export import export_notebook
    from browser_check import CHROMIUM_ARGS, find_chromium

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("Chromium not found (/usr/bin/chromium); install it with scripts/install_browser.sh")
    from playwright.sync_api import sync_playwright

    wide = pd.DataFrame([[0.123456] * 40], columns=[f"a rather long column name {k}" for k in range(40)])
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("wide", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/html": wide.to_html()}, execution_count=1)]
    nb.cells = [nbformat.v4.new_markdown_cell("# wide"), cell]
    nbformat.write(nb, str(tmp_path / "wide.ipynb"))
    full, _ = export_notebook(tmp_path / "wide.ipynb", tmp_path / "report")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS), headless=True)
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.goto(full.resolve().as_uri())
        page_width = page.evaluate("document.documentElement.scrollWidth")
        output = page.eval_on_selector("table", "t => [t.closest('.jp-OutputArea-output').scrollWidth, "
                                                "t.closest('.jp-OutputArea-output').clientWidth]")
        browser.close()
    assert page_width <= 1000 and output[0] > output[1]  # the table scrolls, the page does not
