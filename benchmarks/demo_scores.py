"""The demo report's model scores as a reader sees them: open ``reports/<run>/index.html`` in headless
Chromium, read the study table (notebook 05: F1 and AP of every model and of the classical baseline, for
LIVECell as a whole and per line) and say for each model and row whether it beats the baseline in both.
Exit status 0 when every chosen model beats it in the ``--set`` row (default the whole test split).

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

#: The classical baseline's name in the run's predictions (``predictions/classical.json``).
BASELINE = "classical"

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
    """Every model's AP and F1 beside the classical baseline's, from the tables that carry both: the study
    table of notebook 05 (one row per set, columns ``<model> F1`` and ``<model> AP (%)``)."""
    found = []
    for table in tables:
        header = table["header"]
        col = {h: i for i, h in enumerate(header)}
        base_f1, base_ap = col.get(f"{BASELINE} F1"), col.get(f"{BASELINE} AP (%)")
        if base_f1 is None or base_ap is None:
            continue
        models = [h[:-len(" F1")] for h in header if h.endswith(" F1") and h != f"{BASELINE} F1"
                  and f"{h[:-len(' F1')]} AP (%)" in col]
        for row in table["rows"]:
            if len(row) != len(header):
                continue
            for model in models:
                values = [_number(row[i]) for i in (col[f"{model} AP (%)"], col[f"{model} F1"], base_ap, base_f1)]
                if None in values:
                    continue
                ap, f1, b_ap, b_f1 = values
                found.append({"table": table["title"], "set": row[0], "model": model, "AP (%)": ap, "F1": f1,
                              "baseline AP (%)": b_ap, "baseline F1": b_f1, "beats baseline": ap > b_ap and f1 > b_f1})
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("index", type=Path, help="reports/<run>/index.html")
    p.add_argument("--model", default="centermask", help="only models whose name contains this ('' = all)")
    p.add_argument("--set", default="LIVECell", help="the row (set) that decides the exit status")
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
    rows = [r for r in score_tables(tables) if a.model.lower() in r["model"].lower()]
    if a.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['set']:10s} {r['model']:30s} AP {r['AP (%)']:5.1f} % vs {r['baseline AP (%)']:5.1f} %, "
                  f"F1 {r['F1']:.3f} vs {r['baseline F1']:.3f}: {'beats' if r['beats baseline'] else 'does not beat'}"
                  f" the classical baseline")
    deciding = [r for r in rows if r["set"] == a.set]
    return 0 if deciding and all(r["beats baseline"] for r in deciding) else 1


if __name__ == "__main__":
    raise SystemExit(main())
