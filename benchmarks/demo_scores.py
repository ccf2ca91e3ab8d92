"""The demo report's model scores as a reader sees them: open ``reports/<run>/index.html`` in headless
Chromium, read every table that has a classical-baseline row and AP and F1 columns, and say for each
model whether it beats the baseline in both.

    .venv/bin/python benchmarks/demo_scores.py reports/demo/index.html

Needs Debian's Chromium (``scripts/install_browser.sh``) and Playwright (``make test`` installs both); the page
is read from disk, nothing is fetched.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser_check import CHROMIUM_ARGS, find_chromium  # noqa: E402

#: Rows whose model cell holds one of these are the classical baseline.
BASELINE = ("classical", "baseline")

READ_TABLES = """() => [...document.querySelectorAll('table')].map(t => {
  const section = t.closest('section');
  const title = section ? (section.querySelector('h2, h3') || {}).textContent || section.id : '';
  return {title: title.trim(),
          header: [...t.querySelectorAll('thead th')].map(th => th.innerText.trim()),
          rows: [...t.querySelectorAll('tbody tr')].map(tr => [...tr.children].map(td => td.innerText.trim()))};
})"""


def _number(text: str) -> float | None:
    try:
        return float(text.replace("%", "").strip())
    except ValueError:
        return None


def score_tables(tables: list[dict]) -> list[dict]:
    """Tables with AP and F1 columns and a baseline row: each model's AP and F1 against the baseline's."""
    found = []
    for table in tables:
        header = table["header"]
        ap = next((i for i, h in enumerate(header) if h.startswith("AP") and "seed" not in h and "Δ" not in h), None)
        f1 = next((i for i, h in enumerate(header) if h == "F1"), None)
        if ap is None or f1 is None:
            continue
        rows = [r for r in table["rows"] if len(r) == len(header)]
        base = [r for r in rows if any(b in " ".join(r[:2]).lower() for b in BASELINE)]
        if not base:
            continue
        scope = next((i for i, h in enumerate(header) if h.lower() in ("cell type", "scope", "line")), None)
        for row in rows:
            if row in base:
                continue
            ref = next((b for b in base if scope is None or b[scope] == row[scope]), None)
            if ref is None:
                continue
            model_ap, model_f1, base_ap, base_f1 = (_number(row[ap]), _number(row[f1]), _number(ref[ap]),
                                                    _number(ref[f1]))
            if None in (model_ap, model_f1, base_ap, base_f1):
                continue
            found.append({"table": table["title"], "row": " | ".join(row[:2] if scope is None else
                                                                      [row[0], row[scope]]),
                          "AP": model_ap, "F1": model_f1, "baseline AP": base_ap, "baseline F1": base_f1,
                          "beats baseline": model_ap > base_ap and model_f1 > base_f1})
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("index", type=Path, help="reports/<run>/index.html")
    p.add_argument("--model", default="centermask", help="print only rows whose model contains this ('' = all)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        print("no Chromium found: sh scripts/install_browser.sh", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS))
        page = browser.new_page()
        page.goto(a.index.resolve().as_uri(), wait_until="load")
        tables = page.evaluate(READ_TABLES)
        browser.close()
    rows = [r for r in score_tables(tables) if a.model.lower() in r["row"].lower()]
    if a.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['table'][:60]:60s} {r['row'][:50]:50s} AP {r['AP']:g} vs {r['baseline AP']:g}, "
                  f"F1 {r['F1']:g} vs {r['baseline F1']:g}: {'beats' if r['beats baseline'] else 'does not beat'}")
    return 0 if rows and all(r["beats baseline"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
