"""The study's table layout and its text / HTML / Markdown rendering."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellseg_nb.eval import InstanceEvaluation
from cellseg_nb.eval.tables import STUDY_ROWS, format_study_table, study_table, summary_table


def fake_evaluation(ap: float, types: dict[str, float]) -> InstanceEvaluation:
    """An evaluation object with chosen numbers (the table code only reads summaries)."""
    per_type = {ct: {"AP": v, "F1": v / 2, "AFNR": 1 - v} for ct, v in types.items()}
    return InstanceEvaluation(summary={"AP": ap, "F1": ap / 2, "AFNR": 1 - ap}, per_cell_type=per_type,
                              per_image=pd.DataFrame(), taxonomy=pd.DataFrame())


def test_study_table_layout():
    a = fake_evaluation(0.478, {"BT474": 0.426, "SKOV3": 0.494})
    b = fake_evaluation(0.347, {"SHSY5Y": 0.159})
    table = study_table({"V-99": a, "V-19": b})
    assert list(table.index) == ["LIVECell", "A172", "BT-474", "BV-2", "Huh7", "MCF7", "SH-SY5Y", "SkBr3", "SK-OV-3"]
    assert list(table.index) == list(STUDY_ROWS)
    assert list(table.columns) == [("V-99", "F1"), ("V-99", "AP"), ("V-99", "AFNR"),
                                   ("V-19", "F1"), ("V-19", "AP"), ("V-19", "AFNR")]
    assert table.loc["BT-474", ("V-99", "AP")] == pytest.approx(0.426)
    assert table.loc["SK-OV-3", ("V-99", "AFNR")] == pytest.approx(1 - 0.494)
    assert table.loc["SH-SY5Y", ("V-19", "F1")] == pytest.approx(0.159 / 2)
    assert np.isnan(table.loc["A172", ("V-99", "AP")])
    assert table.loc["LIVECell", ("V-19", "AP")] == pytest.approx(0.347)


def test_formatters():
    table = study_table({"V-99": fake_evaluation(0.478, {"BT474": 0.426})})
    text = format_study_table(table)
    bt474 = next(line for line in text.splitlines() if line.startswith("BT-474"))
    assert bt474.split() == ["BT-474", "0.213", "42.6", "57.4"]     # F1 fraction, AP and AFNR in percent
    assert next(l for l in text.splitlines() if l.startswith("A172")).split() == ["A172", "-", "-", "-"]
    html = format_study_table(table, "html")
    assert html.startswith("<table") and "SK-OV-3" in html and "42.6" in html
    md = format_study_table(table, "markdown").splitlines()
    assert md[0] == "| set | V-99 F1 | V-99 AP | V-99 AFNR |"
    assert md[4] == "| BT-474 | 0.213 | 42.6 | 57.4 |"
    with pytest.raises(ValueError):
        format_study_table(table, "pdf")


def test_summary_table_rows_in_display_spelling():
    ev = fake_evaluation(0.5, {"BT474": 0.4, "SHSY5Y": 0.3})
    table = summary_table(ev, ["AP", "F1"])
    assert list(table.index) == ["LIVECell", "BT-474", "SH-SY5Y"]
    assert table.loc["SH-SY5Y", "F1"] == pytest.approx(0.15)
