"""How many cells a synthetic image gets: the three density modes.

* ``uniform`` (the study's scheme): cell counts uniform over a range, by default the counts that cover
  5 % to 55 % of the image with the type's mean cell area (a culture from sparse to nearly confluent),
  or an explicit ``count_range``.
* ``matched``: counts drawn from the real per-type distribution (the source images' own counts, with a
  small log-normal jitter), so synthetic densities look like the real ones.
* ``range``: a confluence (covered fraction of the image) drawn uniformly from a user-given range; the
  compositor places cells until that fraction is covered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import DataError
from .bank import CellBank

DensityMode = Literal["uniform", "matched", "range"]
MODES: tuple[str, ...] = ("uniform", "matched", "range")

#: No mode asks for more covered image than this (bounded overlap makes more unreachable).
MAX_CONFLUENCE = 0.95


@dataclass(frozen=True)
class DensityConfig:
    """``mode``; ``uniform_confluence``: the coverage range that sets uniform's default count range;
    ``count_range``: explicit (lo, hi) counts for ``uniform``; ``confluence_range``: (lo, hi) for ``range``;
    ``matched_jitter``: log-normal sigma around a sampled real count; ``max_reuse``: a target may
    need at most this many placements per banked cell (more would paste the same few cells over and over).
    """

    mode: str = "uniform"
    uniform_confluence: tuple[float, float] = (0.05, 0.55)
    count_range: tuple[int, int] | None = None
    confluence_range: tuple[float, float] | None = None
    matched_jitter: float = 0.1
    max_reuse: float = 20.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"density mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        check_confluence_range(self.uniform_confluence, "uniform_confluence")
        if self.mode == "range":
            if self.confluence_range is None:
                raise ValueError("density mode 'range' needs confluence_range=(lo, hi)")
            check_confluence_range(self.confluence_range, "confluence_range")
        if self.count_range is not None:
            lo, hi = self.count_range
            if not (1 <= int(lo) <= int(hi)):
                raise ValueError(f"count_range must satisfy 1 <= lo <= hi, got ({lo}, {hi})")
        if self.matched_jitter < 0 or self.max_reuse <= 0:
            raise ValueError("matched_jitter must be >= 0 and max_reuse > 0")


def check_confluence_range(value: tuple[float, float], name: str = "confluence range") -> tuple[float, float]:
    """Validate a (lo, hi) confluence range; ``ValueError`` naming the numbers when impossible."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be two numbers lo,hi, got {value!r}") from None
    if not (0.0 < lo <= hi):
        raise ValueError(f"{name} ({lo}, {hi}) is impossible: need 0 < lo <= hi")
    if hi > MAX_CONFLUENCE:
        raise ValueError(f"{name} ({lo}, {hi}) is impossible: at most {MAX_CONFLUENCE} of an image can be "
                         "covered with bounded overlap between cells")
    return lo, hi


@dataclass(frozen=True)
class Target:
    """What one synthetic image should hold: a cell ``count`` or a covered fraction ``confluence``."""

    count: int | None = None
    confluence: float | None = None


class DensitySampler:
    """Draws :class:`Target` values for one cell type; construction checks the bank can meet them."""

    def __init__(self, bank: CellBank, config: DensityConfig, image_area: int) -> None:
        self.bank = bank
        self.config = config
        self.image_area = int(image_area)
        mean_area = bank.mean_area
        if config.mode == "uniform":
            if config.count_range is not None:
                lo, hi = (int(v) for v in config.count_range)
            else:
                c_lo, c_hi = config.uniform_confluence
                lo = max(1, int(round(c_lo * image_area / mean_area)))
                hi = max(lo, int(round(c_hi * image_area / mean_area)))
            self.count_range = (lo, hi)
            most = hi
        elif config.mode == "matched":
            counts = np.asarray(bank.image_counts, dtype=np.float64)
            self.real_counts = counts[counts > 0]
            most = int(np.ceil(self.real_counts.max() * np.exp(3 * config.matched_jitter)))
        else:
            lo_c, hi_c = config.confluence_range  # type: ignore[misc]
            most = int(np.ceil(hi_c * image_area / mean_area))
        self.most = int(most)
        allowed = int(len(bank) * config.max_reuse)
        if most > allowed:
            raise DataError(
                f"cell type {bank.cell_type}: density mode {config.mode!r} asks for up to {most} cells per image "
                f"but the bank holds only {len(bank)} usable cells (at most {config.max_reuse:g} placements per "
                f"banked cell = {allowed}); lower the density or add source images of this type")

    def sample(self, rng: np.random.Generator) -> Target:
        """One target for one synthetic image."""
        cfg = self.config
        if cfg.mode == "uniform":
            lo, hi = self.count_range
            return Target(count=int(rng.integers(lo, hi + 1)))
        if cfg.mode == "matched":
            base = float(self.real_counts[rng.integers(0, self.real_counts.size)])
            count = int(round(base * float(np.exp(rng.normal(0.0, cfg.matched_jitter)))))
            return Target(count=min(self.most, max(1, count)))
        lo_c, hi_c = cfg.confluence_range  # type: ignore[misc]
        return Target(confluence=float(rng.uniform(lo_c, hi_c)))
