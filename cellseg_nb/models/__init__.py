"""Models: the U-Net family, the per-cell-type ensemble, semantic -> instance post-processing, and
CenterMask (:mod:`cellseg_nb.models.centermask`), all built by name with :func:`build_model`."""

from .postprocess import PostprocessParams, semantic_to_instances, semantic_to_labels
from .registry import build_model, model_names
from .unet import UNET_PRESETS, UNet, build_unet

__all__ = ["PostprocessParams", "UNET_PRESETS", "UNet", "build_model", "build_unet", "model_names",
           "semantic_to_instances", "semantic_to_labels"]
