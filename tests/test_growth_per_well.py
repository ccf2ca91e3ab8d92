"""Growth read-outs per well: wells are never joined, medians need two wells at one time point."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cellseg_nb.viz.growth import growth_per_well, per_well


def _table() -> pd.DataFrame:
    rows = [("A172", "B1", 0, 10), ("A172", "B1", 0, 14), ("A172", "B1", 4, 20),   # two crops at t=0
            ("A172", "C2", 0, 100), ("A172", "C2", 4, 140),
            ("A172", "D3", 8, 500)]                                                # seen once
    return pd.DataFrame(rows, columns=["cell_type", "well", "elapsed_hours", "n_cells"])


def test_per_well_means_each_time_point_of_each_well():
    wells = per_well(_table(), "n_cells")
    assert wells.values.tolist() == [["A172", "B1", 0, 12.0], ["A172", "B1", 4, 20.0], ["A172", "C2", 0, 100.0],
                                     ["A172", "C2", 4, 140.0], ["A172", "D3", 8, 500.0]]


def test_figure_draws_one_line_per_well_and_the_median_where_wells_share_times():
    fig = growth_per_well(_table(), "n_cells")
    ax = fig.axes[0]
    wells = [line for line in ax.lines if line.get_label() == "one well"]
    medians = [line for line in ax.lines if line.get_label() == "median over wells"]
    assert len(wells) == 3 and len(medians) == 1
    assert np.allclose(medians[0].get_xdata(), [0, 4]) and np.allclose(medians[0].get_ydata(), [56.0, 80.0])
    two = growth_per_well(_table().assign(series="annotated"), "n_cells", series="series")
    assert any(line.get_label() == "annotated: median over wells" for line in two.axes[0].lines)
