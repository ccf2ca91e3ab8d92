"""Evaluation under LIVECell's protocol: COCO AP/AR and AFNR, F1, mSA, pixel metrics, error taxonomy,
study tables and prediction I/O (COCO results json, uint16 label TIFFs).

Entry points: :func:`evaluate_instances` (-> :class:`InstanceEvaluation`), :func:`study_table`,
:mod:`cellseg_nb.eval.predictions` (``masks_to_results``, ``save_results``, ``load_results``) and
:mod:`cellseg_nb.eval.labels` (label TIFFs).
"""

from .instances import SUMMARY_KEYS, InstanceEvaluation, evaluate_instances, evaluate_many
from .predictions import load_results, masks_to_results, save_results, validate_results

__all__ = [
    "InstanceEvaluation",
    "SUMMARY_KEYS",
    "evaluate_instances",
    "evaluate_many",
    "load_results",
    "masks_to_results",
    "save_results",
    "validate_results",
]
