"""The report index renders in a real headless Chromium: images decode, tables show, no console errors."""

from __future__ import annotations

import base64

import pytest

from cellseg_nb.pipeline import run_pipeline
from browser_check import check_page, check_pages, find_chromium
from test_pipeline import make_config

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium not found (/usr/bin/chromium); install it with scripts/install_browser.sh")


@needs_chromium
@pytest.mark.slow
def test_index_renders_images_tables_and_links(tmp_path):
    config = make_config(tmp_path)
    run_pipeline(config, progress=False, say=lambda m: None)
    index = config.report_dir / "index.html"
    seen = check_page(index)
    assert seen.ok, (seen.broken_images, seen.console_errors, seen.page_errors)
    assert seen.images == 1 and seen.tables == 3  # notebooks table, scores, scaled
    assert seen.table_rows >= 2 + 2 + 2
    for href in ("a_make.html", "a_make.clean.html", "b_use.html"):
        assert href in seen.links and (config.report_dir / href).is_file()
    notebook_links = [h for h in seen.links if h.endswith(".ipynb")]
    assert notebook_links and all((config.report_dir / h).resolve().is_file() for h in notebook_links)
    # the notebook reports are offline too: the figure decodes, nothing is fetched, no errors
    reports = check_pages([config.report_dir / h for h in ("b_use.html", "b_use.clean.html")])
    for report in reports:
        assert report.ok and report.images == 1, (report.url, report.console_errors, report.page_errors)


@needs_chromium
def test_checker_catches_broken_images_and_script_errors(tmp_path):
    """The check must be able to fail: a corrupt image and a throwing script are both reported."""
    bad_png = base64.b64encode(b"\x89PNG\r\n\x1a\nnot really a png").decode()
    page = tmp_path / "bad.html"
    page.write_text(f'<html><body><img alt="corrupt" src="data:image/png;base64,{bad_png}">'
                    "<script>console.error('deliberate'); undefinedFunction();</script></body></html>")
    seen = check_page(page)
    assert not seen.ok
    assert seen.broken_images == ["corrupt"]
    assert any("deliberate" in m for m in seen.console_errors)
    assert any("undefinedFunction" in m for m in seen.page_errors)
