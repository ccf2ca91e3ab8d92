"""The one place that reads weights files: cellseg-nb checkpoints, centermask2 / LIVECell detectors,
detectron2 ImageNet VoVNets and timm state dicts (``.pth`` / ``.safetensors``), recognised by content and
loaded strictly; the model zoo and its cache. See docs/weights.md.

- :func:`resolve_weights` -- zoo name or local path -> local file (downloads zoo files into the cache);
- :func:`load_model` -- a ready eval-mode model (architecture inferred for centermask2 files);
- :func:`init_weights` -- weights into a model about to be trained (COCO -> 1 class re-initialises the
  class-specific layers; backbone files load the trunk);
- :func:`read_weights` -- a file's tensors, format and stored normalisation;
- :func:`zoo_entries` -- the zoo, overrides applied.
"""

from __future__ import annotations

from .formats import FORMATS, WeightsFile, read_weights
from .frozen import backbone_has_weights, check_frozen_bn
from .load import CLASS_SPECIFIC, init_weights, load_model, verify_normalisation
from .report import LoadReport, WeightsError
from .resolve import download_entry, resolve_weights
from .zoo import ZooEntry, cellseg_home, weights_dir, zoo_entries, zoo_entry

__all__ = ["CLASS_SPECIFIC", "FORMATS", "LoadReport", "WeightsError", "WeightsFile", "ZooEntry",
           "backbone_has_weights", "cellseg_home", "check_frozen_bn", "download_entry", "init_weights",
           "load_model", "read_weights", "resolve_weights", "verify_normalisation",
           "weights_dir", "zoo_entries", "zoo_entry"]
