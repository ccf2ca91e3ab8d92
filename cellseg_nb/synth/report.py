"""Compare a synthetic set with its originals: features, distances, feature shifts and the PCA plot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..atomic import atomic_write_text
from ..data.coco import CocoDataset, load_coco
from .distances import distribution_distances, feature_shifts
from .features import FEATURE_GROUPS, FEATURES, dataset_features
from .pca import plot_pca


@dataclass
class Comparison:
    """Feature tables of both sets, per-type distances and standardised feature shifts."""

    original: pd.DataFrame
    synthetic: pd.DataFrame
    distances: pd.DataFrame
    shifts: pd.DataFrame


def compare_sets(original: str | Path | CocoDataset, original_images: str | Path,
                 synthetic: str | Path | CocoDataset, synthetic_images: str | Path,
                 out_dir: str | Path | None = None) -> Comparison:
    """Measure both sets (only the original cell types that the synthetic set has) and compare them.

    With ``out_dir``: writes ``features.csv``, ``distances.csv``, ``feature_shifts.csv`` and ``pca.png``.
    """
    syn = synthetic if isinstance(synthetic, CocoDataset) else load_coco(synthetic)
    syn_frame = dataset_features(syn, synthetic_images)
    types = sorted(set(syn_frame["cell_type"]))
    orig_frame = dataset_features(original, original_images, cell_types=types or None)
    result = Comparison(orig_frame, syn_frame, distribution_distances(orig_frame, syn_frame, {"all": FEATURES, **FEATURE_GROUPS}),
                        feature_shifts(orig_frame, syn_frame))
    if out_dir is not None:
        out = Path(out_dir)
        atomic_write_text(out / "features.csv", pd.concat([orig_frame, syn_frame]).to_csv(index=False))
        atomic_write_text(out / "distances.csv", result.distances.to_csv(index=False))
        atomic_write_text(out / "feature_shifts.csv", result.shifts.to_csv())
        import matplotlib.pyplot as plt

        fig = plot_pca(orig_frame, syn_frame, out / "pca.png")
        plt.close(fig)
    return result
