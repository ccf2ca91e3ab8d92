"""Cut-and-paste synthetic extension of LIVECell-format data, and the means to judge it.

* :func:`generate_synthetic_dataset` (``cellseg-nb synth``): per-type cell banks, cell-free backgrounds,
  cells pasted at new positions, orientations and densities (``uniform``, ``matched``, ``range``),
  written as a LIVECell-format dataset (synthetic-only and extended json).
* :func:`dataset_features`, :class:`FeaturePCA`, :func:`plot_pca`, :func:`distribution_distances`,
  :func:`feature_shifts`, :func:`compare_sets`: how far a synthetic set is from the real one, per type.

See docs/synthetic-data.md.
"""

from .background import BackgroundConfig, estimate_background
from .bank import BankCell, BankConfig, CellBank, build_cell_bank
from .compose import ComposeConfig, ComposedImage, PlacedCell, compose_image
from .density import MODES, DensityConfig, DensitySampler, Target, check_confluence_range
from .distances import Standardizer, distribution_distances, feature_shifts, frechet_distance, mmd_rbf
from .features import FEATURE_GROUPS, FEATURES, dataset_features, image_features
from .pca import FeaturePCA, plot_pca
from .report import Comparison, compare_sets
from .writer import SynthConfig, SynthResult, generate_synthetic_dataset, synthetic_file_name

__all__ = [
    "BackgroundConfig", "BankCell", "BankConfig", "CellBank", "Comparison", "ComposeConfig", "ComposedImage",
    "DensityConfig", "DensitySampler", "FEATURE_GROUPS", "FEATURES", "FeaturePCA", "MODES", "PlacedCell", "Standardizer",
    "SynthConfig", "SynthResult", "Target", "build_cell_bank", "check_confluence_range", "compare_sets",
    "compose_image", "dataset_features", "distribution_distances", "estimate_background", "feature_shifts",
    "frechet_distance", "generate_synthetic_dataset", "image_features", "mmd_rbf", "plot_pca",
    "synthetic_file_name",
]
