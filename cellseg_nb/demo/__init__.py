"""The embedded LIVECell-format demo dataset: simulated phase-contrast images of the eight LIVECell
lines with exact polygon annotations, so the whole pipeline runs on a fresh machine without a download.

Entry point: :func:`generate_demo_dataset` (also ``cellseg-nb demo-data``). See docs/demo-data.md.
"""

from .generate import DemoImage, generate_demo_dataset, generate_image, split_sizes
from .morphology import MORPHOLOGIES, Morphology

__all__ = ["DemoImage", "MORPHOLOGIES", "Morphology", "generate_demo_dataset", "generate_image", "split_sizes"]
