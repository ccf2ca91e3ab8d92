"""Notebook 06 in a real JupyterLab, driven by headless Chromium through Playwright: the prediction
browser renders, keeps the image's aspect ratio, and changing cell type, model and threshold changes the
picture and the numbers, a click reports the pixel's objects, keys step through the images, a second
model shows beside the first, with no error in the browser console.

JupyterLab runs on 127.0.0.1 at a free port with a random token and its own settings folders; the
notebook runs on the tiny session demo data with two models (the classical baseline, computed by the
notebook, and a seeded perturbation of the ground truth written here). Nothing is fetched from outside.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from browser_check import CHROMIUM_ARGS, find_chromium

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "06_browse_predictions.ipynb"
CHROMIUM = find_chromium()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium not found (/usr/bin/chromium); "
                                                "install it with scripts/install_browser.sh"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prepare(tmp: Path, demo_root: Path) -> Path:
    """A run with a perturbed-ground-truth model and notebook 06 parameterised for it; returns the notebook."""
    import nbformat

    from cellseg_nb.data.splits import load_split
    from cellseg_nb.eval.perturb import perturbed_predictions
    from cellseg_nb.eval.predictions import save_results, validate_results

    data = load_split(demo_root, "test")
    preds = validate_results(perturbed_predictions(data.dataset, np.random.default_rng(0)), data.dataset)
    save_results(tmp / "runs" / "lab" / "predictions" / "perturbed.json", preds)
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    parameters = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source += f"\ndata_root = {str(demo_root)!r}\nruns_root = {str(tmp / 'runs')!r}"
    work = tmp / "work"
    work.mkdir()
    dest = work / "06.ipynb"
    nbformat.write(nb, str(dest))
    return dest


class JupyterLab:
    """A headless JupyterLab server for one test, stopped by :meth:`stop`."""

    def __init__(self, root: Path, home: Path) -> None:
        self.port, self.token = _free_port(), secrets.token_hex(16)
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
               "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "ws"),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
               "OMP_NUM_THREADS": "1"}
        home.mkdir(parents=True, exist_ok=True)
        notification = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        notification.parent.mkdir(parents=True, exist_ok=True)
        notification.write_text('{"fetchNews": "false"}')  # offline: never ask to fetch Jupyter news
        self._log = (home / "lab.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={root}", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
             "jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly", "--allow-root",
             "--ServerApp.terminals_enabled=False"],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=root)
        self.log_path = home / "lab.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"JupyterLab did not answer in {timeout} s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def _wait_for_change(read, before, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = read()
        if now != before:
            return now
        time.sleep(0.2)
    raise AssertionError(f"nothing changed within {timeout_s} s (still {before!r:.200})")


def _halves(png: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Left and right halves of a screenshot as grey arrays."""
    import io

    from PIL import Image

    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    mid = grey.shape[1] // 2
    return grey[:, :mid], grey[:, mid: 2 * mid]


def _settle(element, timeout_s: float = 15.0) -> bytes:
    """The element's screenshot once two taken 0.4 s apart agree (the canvas has its new picture)."""
    deadline = time.monotonic() + timeout_s
    last = element.screenshot()
    while time.monotonic() < deadline:
        time.sleep(0.4)
        now = element.screenshot()
        if now == last:
            return now
        last = now
    return last


def test_notebook_06_browser_in_jupyterlab(tmp_path, demo_root):
    from playwright.sync_api import sync_playwright

    from cellseg_nb.data.splits import load_split

    notebook = _prepare(tmp_path, demo_root)
    sizes = {(img["width"], img["height"]) for img in load_split(demo_root, "test").dataset.images}
    assert len(sizes) == 1, "the check below assumes one image size"
    (width, height), = sizes
    lab = JupyterLab(notebook.parent, tmp_path / "home")
    errors: list[str] = []
    try:
        lab.wait()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True)
            page = browser.new_page(viewport={"width": 1600, "height": 1500})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            try:
                _exercise(page, lab, notebook, width, height, tmp_path)
            except Exception:
                page.screenshot(path=str(tmp_path / "failure.png"))
                (tmp_path / "failure.html").write_text(page.content())
                raise
            browser.close()
    finally:
        lab.stop()
    assert not errors, f"browser console errors: {json.dumps(errors, indent=1)[:3000]}"


def _exercise(page, lab: JupyterLab, notebook: Path, width: int, height: int, screenshots: Path) -> None:
    """Open the notebook, run it, check the widget's aspect ratio and that each control changes the
    picture and the numbers; leaves screenshots of the widget in ``screenshots``."""
    if True:
        if True:
            page.goto(f"{lab.url}/lab/tree/{notebook.name}?token={lab.token}", wait_until="domcontentloaded")
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=60_000)
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)  # kernel started
            page.locator(".jp-NotebookPanel .jp-Cell").first.click()
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            canvas = page.locator(".jupyter-matplotlib-canvas-div canvas").first
            canvas.wait_for(state="visible", timeout=90_000)
            metrics = page.locator(".cellseg-metrics").first
            metrics.wait_for(state="visible", timeout=30_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)

            box = canvas.bounding_box()
            assert box and box["width"] > 200
            assert box["width"] / box["height"] == pytest.approx(width / height, rel=0.02)

            def dropdown(label: str):
                return page.locator(".widget-dropdown").filter(
                    has=page.locator("label", has_text=re.compile(f"^{label}$"))).locator("select")

            def state():
                return canvas.screenshot(), metrics.inner_text()

            def check_change(action) -> None:
                before_picture, before_numbers = state()
                action()
                _wait_for_change(lambda: metrics.inner_text(), before_numbers)
                page.wait_for_timeout(500)  # the canvas image arrives after the numbers
                _wait_for_change(lambda: canvas.screenshot(), before_picture)

            check_change(lambda: dropdown("cell type").select_option(index=2))
            model = dropdown("model")
            current = model.evaluate("s => s.selectedIndex")
            check_change(lambda: model.select_option(index=1 - current))
            slider = page.locator(".widget-slider", has_text="min score").locator(".noUi-handle").first
            check_change(lambda: (slider.focus(), slider.press("Home")))
            # a click inspects the pixel under the cursor; keys step through the images
            surface = page.locator(".jupyter-matplotlib-canvas-div").first  # receives mouse and key events
            surface.click(position={"x": box["width"] / 2, "y": box["height"] / 2})
            page.locator(".widget-html", has_text="pixel (").first.wait_for(timeout=30_000)
            image = dropdown("image")
            check_change(lambda: dropdown("cell type").select_option(index=0))  # all cell types: 8 images
            first = image.evaluate("s => s.selectedIndex")
            surface.press("n")
            _wait_for_change(lambda: image.evaluate("s => s.selectedIndex"), first)
            surface.press("p")
            _wait_for_change(lambda: image.evaluate("s => s.selectedIndex"), first + 1)
            widget = page.locator(".jp-OutputArea-output").filter(has=canvas).first
            _settle(canvas)
            widget.screenshot(path=str(screenshots / "browser_widget.png"))
            # side by side: both panels drawn, zooming together
            page.locator(".widget-checkbox", has_text="colour by error class").locator("input").check()
            dropdown("compare with").select_option(index=1)
            shot = _settle(canvas)
            # the canvas keeps its size; the right half now shows the second model, not the first's image
            box = canvas.bounding_box()
            assert box["width"] / box["height"] == pytest.approx(width / height, rel=0.02)
            halves = _halves(shot)
            assert halves[1].std() > 5 and not np.array_equal(halves[0], halves[1])
            widget.screenshot(path=str(screenshots / "browser_compare.png"))
            # one model, filled labels, zoomed in with the mouse wheel: full-resolution pixels
            dropdown("compare with").select_option(index=0)
            page.locator(".widget-toggle-buttons button", has_text="filled").click()
            before = _settle(canvas)
            surface.hover(position={"x": box["width"] * 0.3, "y": box["height"] * 0.4})
            for _ in range(4):
                page.mouse.wheel(0, -120)
                page.wait_for_timeout(150)
            _wait_for_change(lambda: canvas.screenshot(), before)
            _settle(canvas)
            widget.screenshot(path=str(screenshots / "browser_zoom.png"))
