"""PCA of image features fitted on the original data, and original-vs-synthetic plots per cell type.

The study compared original and extended data on two principal components; fitting the PCA on the
original images only keeps the axes those of the real data, so synthetic images that drift show up as
points outside the real cloud.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from ..atomic import atomic_path
from ..celltypes import DISPLAY_NAMES
from .distances import Standardizer
from .features import FEATURES


@dataclass
class FeaturePCA:
    """A PCA on standardised features (standardised with the original data's statistics)."""

    scaler: Standardizer
    pca: PCA

    @classmethod
    def fit(cls, original: pd.DataFrame, n_components: int = 2, columns: Sequence[str] = FEATURES) -> "FeaturePCA":
        scaler = Standardizer.fit(original, columns)
        z = scaler.transform(original)
        n = max(1, min(n_components, z.shape[0], z.shape[1]))
        return cls(scaler, PCA(n_components=n, svd_solver="full").fit(z))

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Principal-component scores (n x n_components)."""
        return self.pca.transform(self.scaler.transform(frame))

    @property
    def explained_variance_ratio(self) -> np.ndarray:
        return self.pca.explained_variance_ratio_


def plot_pca(original: pd.DataFrame, synthetic: pd.DataFrame, path: str | Path | None = None,
             model: FeaturePCA | None = None):
    """Scatter PC1 vs PC2 of original and synthetic images, one panel per cell type.

    Returns the matplotlib figure; with ``path`` it is also saved (atomically).
    """
    import matplotlib.pyplot as plt

    model = model or FeaturePCA.fit(original)
    po, ps = model.transform(original), model.transform(synthetic)
    if po.shape[1] < 2:
        po = np.column_stack([po, np.zeros(len(po))])
        ps = np.column_stack([ps, np.zeros(len(ps))])
    types = sorted(set(original["cell_type"]) | set(synthetic["cell_type"]))
    ncols = min(4, len(types))
    nrows = -(-len(types) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.2 * nrows), squeeze=False,
                             sharex=True, sharey=True)
    evr = model.explained_variance_ratio
    for ax, t in zip(axes.ravel(), types):
        mo = (original["cell_type"] == t).to_numpy()
        ms = (synthetic["cell_type"] == t).to_numpy()
        ax.scatter(ps[ms, 0], ps[ms, 1], s=14, alpha=0.6, label="synthetic", color="tab:orange")
        ax.scatter(po[mo, 0], po[mo, 1], s=22, alpha=0.9, label="original", color="tab:blue", marker="s")
        ax.set_title(DISPLAY_NAMES.get(t, t))
    for ax in axes.ravel()[len(types):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(f"PC1 ({100 * evr[0]:.0f} %)")
    for ax in axes[:, 0]:
        ax.set_ylabel(f"PC2 ({100 * evr[1]:.0f} %)" if len(evr) > 1 else "PC2")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        path = Path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110)
    return fig
