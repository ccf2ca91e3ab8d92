"""Open a report page in headless Chromium and check that it renders: images decoded, tables present,
no console errors. Test-only code (issue #14: it does not ship in the package); the report and JupyterLab tests use it.

Needs Debian's ``chromium`` (``scripts/install_browser.sh``) and Playwright for Python; Playwright's own
browser download is not used, so nothing is fetched from the internet.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

#: Flags for a quiet, offline, sandbox-free headless Chromium (root in containers and CI).
CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium() -> str | None:
    """Path of a system Chromium, or ``None`` when none is installed."""
    for candidate in _CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageCheck:
    """What the browser saw on one page."""

    url: str
    title: str = ""
    images: int = 0
    broken_images: list[str] = field(default_factory=list)
    tables: int = 0
    table_rows: int = 0
    links: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.broken_images or self.console_errors or self.page_errors)


def _inspect(page, url: str, timeout_ms: int) -> PageCheck:
    result = PageCheck(url)
    page.on("console", lambda msg: result.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: result.page_errors.append(str(exc)))
    page.goto(url, wait_until="load", timeout=timeout_ms)
    result.title = page.title()
    images = page.eval_on_selector_all(
        "img", "els => els.map(e => ({alt: e.alt, ok: e.complete && e.naturalWidth > 0}))")
    result.images = len(images)
    result.broken_images = [img["alt"] or "<no alt>" for img in images if not img["ok"]]
    result.tables = page.eval_on_selector_all("table", "els => els.length")
    result.table_rows = page.eval_on_selector_all("table tbody tr", "els => els.length")
    result.links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    return result


def check_pages(paths: list[str | Path], *, executable: str | None = None,
                timeout_ms: int = 30_000) -> list[PageCheck]:
    """Load each file via ``file://`` in one headless Chromium and report images, tables, links and errors."""
    from playwright.sync_api import sync_playwright

    executable = executable or find_chromium()
    if executable is None:
        raise FileNotFoundError("no Chromium found; install it with scripts/install_browser.sh")
    results = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS), headless=True)
        try:
            for path in paths:
                page = browser.new_page()
                results.append(_inspect(page, Path(path).resolve().as_uri(), timeout_ms))
                page.close()
        finally:
            browser.close()
    return results


def check_page(path: str | Path, *, executable: str | None = None, timeout_ms: int = 30_000) -> PageCheck:
    """:func:`check_pages` for one page."""
    return check_pages([path], executable=executable, timeout_ms=timeout_ms)[0]
