"""How far a synthetic feature distribution is from the real one, per cell type.

Features are standardised with the ORIGINAL data's mean and standard deviation (over all its images),
so every distance is in units of the real data's spread. Two distances:

* Frechet distance between Gaussians fitted to each set: ``|mu_o - mu_s|^2 + Tr(C_o + C_s - 2 (C_o C_s)^1/2)``,
* squared MMD with an RBF kernel (biased V-statistic, never negative), bandwidth = the median pairwise
  distance of the standardised original features (one bandwidth for all types, so types compare).

:func:`feature_shifts` shows which features move: the standardised mean shift per type and feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist, pdist

from .features import FEATURES


@dataclass(frozen=True)
class Standardizer:
    """Per-feature mean and standard deviation of the original data (std 0 becomes 1)."""

    columns: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, frame: pd.DataFrame, columns: Sequence[str] = FEATURES) -> "Standardizer":
        values = frame[list(columns)].to_numpy(dtype=np.float64)
        std = values.std(axis=0)
        return cls(tuple(columns), values.mean(axis=0), np.where(std > 1e-12, std, 1.0))

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return (frame[list(self.columns)].to_numpy(dtype=np.float64) - self.mean) / self.std


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to the rows of ``a`` and ``b`` (n x d each)."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False)) if len(a) > 1 else np.zeros((a.shape[1], a.shape[1]))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False)) if len(b) > 1 else np.zeros((b.shape[1], b.shape[1]))
    # Tr((C_a C_b)^1/2) = Tr((C_a^1/2 C_b C_a^1/2)^1/2): symmetric, so eigh is stable even when singular
    w_a, v_a = np.linalg.eigh(cov_a)
    sqrt_a = (v_a * np.sqrt(np.clip(w_a, 0.0, None))) @ v_a.T
    inner = np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
    trace_root = float(np.sqrt(np.clip(inner, 0.0, None)).sum())
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b) - 2.0 * trace_root)
    return max(value, 0.0)


def mmd_rbf(a: np.ndarray, b: np.ndarray, bandwidth: float) -> float:
    """Squared maximum mean discrepancy with kernel ``exp(-|x - y|^2 / (2 bandwidth^2))`` (biased)."""
    if bandwidth <= 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth}")
    gamma = 1.0 / (2.0 * bandwidth ** 2)
    k_aa = np.exp(-gamma * cdist(a, a, "sqeuclidean")).mean()
    k_bb = np.exp(-gamma * cdist(b, b, "sqeuclidean")).mean()
    k_ab = np.exp(-gamma * cdist(a, b, "sqeuclidean")).mean()
    return max(float(k_aa + k_bb - 2.0 * k_ab), 0.0)


def median_bandwidth(z: np.ndarray) -> float:
    """Median pairwise Euclidean distance of the rows of ``z`` (1.0 when undefined)."""
    if len(z) < 2:
        return 1.0
    med = float(np.median(pdist(z)))
    return med if med > 0 else 1.0


def distribution_distances(original: pd.DataFrame, synthetic: pd.DataFrame,
                           groups: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Per feature group and cell type (plus ``all`` types): image counts, Frechet distance and MMD^2.

    Both frames are :func:`cellseg_nb.synth.features.dataset_features` tables. ``groups`` maps a group
    name to its feature columns (default: ``{"all": FEATURES}``; :data:`FEATURE_GROUPS` splits them into
    intensity, texture, density and cells). Each group is standardised and gets its MMD bandwidth on its
    own, from the original data.
    """
    groups = {"all": FEATURES} if groups is None else groups
    types = sorted(set(original["cell_type"]) & set(synthetic["cell_type"]))
    rows = []
    for group, columns in groups.items():
        scaler = Standardizer.fit(original, columns)
        z_orig, z_syn = scaler.transform(original), scaler.transform(synthetic)
        bandwidth = median_bandwidth(z_orig)
        selections = [(t, (original["cell_type"] == t).to_numpy(), (synthetic["cell_type"] == t).to_numpy())
                      for t in types]
        selections.append(("all", np.ones(len(original), bool), np.ones(len(synthetic), bool)))
        for name, in_orig, in_syn in selections:
            zo, zs = z_orig[in_orig], z_syn[in_syn]
            rows.append({"features": group, "cell_type": name, "n_original": len(zo), "n_synthetic": len(zs),
                         "frechet": frechet_distance(zo, zs), "mmd2": mmd_rbf(zo, zs, bandwidth),
                         "bandwidth": bandwidth})
    return pd.DataFrame(rows)


def feature_shifts(original: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[str] = FEATURES) -> pd.DataFrame:
    """Per cell type (rows) and feature (columns): (synthetic mean - original mean) / original std,
    the std taken over all original images. Large entries say which features drift."""
    scaler = Standardizer.fit(original, columns)
    out = {}
    for t in sorted(set(original["cell_type"]) & set(synthetic["cell_type"])):
        zo = scaler.transform(original[original["cell_type"] == t]).mean(axis=0)
        zs = scaler.transform(synthetic[synthetic["cell_type"] == t]).mean(axis=0)
        out[t] = zs - zo
    return pd.DataFrame.from_dict(out, orient="index", columns=list(columns))
