"""Culture time and confluence: elapsed time in the file name drives how many cells an image holds.

LIVECell images were taken every 4 h for up to about 4-5 days while the cells divided and spread.
The demo data follows logistic growth from ``density_start`` towards ``density_max`` with the line's
doubling time, and cells spread a little as the culture settles, so the elapsed time parsed from a file
name carries a real confluence signal for growth analyses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .morphology import Morphology

#: Imaging interval and the last time point of the demo data (0 to 4 days in 4 h steps).
STEP_HOURS = 4
MAX_HOURS = 96
TIME_POINTS: tuple[int, ...] = tuple(range(0, MAX_HOURS + 1, STEP_HOURS))

#: Plate column(s) per line (as in the real file names) and the rows wells are drawn from.
WELL_COLUMNS: dict[str, tuple[int, ...]] = {
    "A172": (7,), "BT474": (3,), "BV2": (4,), "Huh7": (10, 11), "MCF7": (4,), "SHSY5Y": (10,),
    "SkBr3": (3,), "SKOV3": (4,),
}
WELL_ROWS = "ABCDEFGH"
LOCATIONS = (1, 2)
CROPS = (1, 2, 3, 4)


@dataclass(frozen=True)
class Acquisition:
    """Where and when a demo image was taken (the fields of a LIVECell file name)."""

    well: str
    location: int
    elapsed_hours: int
    crop: int


def expected_density(morph: Morphology, hours: float) -> float:
    """Logistic cell density (cells per 10^4 px) after ``hours`` of culture."""
    rate = np.log(2.0) / morph.doubling_hours
    k, n0 = morph.density_max, morph.density_start
    return float(k / (1.0 + (k / n0 - 1.0) * np.exp(-rate * hours)))


def confluence(morph: Morphology, hours: float) -> float:
    """Density as a fraction of the line's carrying capacity (0..1)."""
    return expected_density(morph, hours) / morph.density_max


def spread_factor(morph: Morphology, hours: float) -> float:
    """Cell area multiplier: cells spread over the first day, then shrink a little as they crowd."""
    settle = 0.8 + 0.3 * min(hours / 24.0, 1.0)
    return settle * (1.0 - 0.25 * confluence(morph, hours))


def cell_count(morph: Morphology, hours: float, image_px: int, rng: np.random.Generator) -> int:
    """Number of cells to place: Poisson around the expected density, with well-to-well variation."""
    mean = expected_density(morph, hours) * image_px / 1e4 * float(np.exp(0.2 * rng.standard_normal()))
    return max(1, int(rng.poisson(mean)))


def acquisitions(cell_type: str, count: int, rng: np.random.Generator) -> list[Acquisition]:
    """``count`` distinct (well, location, time, crop) combinations for one line, drawn without
    replacement (so file names never collide), covering the 0-96 h time points."""
    columns = WELL_COLUMNS.get(cell_type, (1,))
    wells = [f"{row}{col}" for col in columns for row in WELL_ROWS]
    total = len(wells) * len(LOCATIONS) * len(TIME_POINTS) * len(CROPS)
    if count > total:
        raise ValueError(f"{cell_type}: at most {total} distinct demo images per line, asked for {count}")
    picks = rng.choice(total, size=count, replace=False)
    out = []
    for p in picks:
        p, crop = divmod(int(p), len(CROPS))
        p, t = divmod(p, len(TIME_POINTS))
        w, loc = divmod(p, len(LOCATIONS))
        out.append(Acquisition(wells[w], LOCATIONS[loc], TIME_POINTS[t], CROPS[crop]))
    return out
