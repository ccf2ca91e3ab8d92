"""Score calibration: fit on the validation split, save with the model, apply.

A U-Net's instances carry features (:data:`cellseg_nb.models.postprocess.INSTANCE_FEATURES`); whether
each instance matches an annotated cell at IoU >= 0.5 is the label. A logistic regression (scikit-learn,
L2, ``C=1``) from features to match gives the calibrated score, an estimate of the instance's match
rate, so a score threshold trades precision against recall. CenterMask's one feature is the logit of its
mask score (Platt scaling, ``CenterMaskConfig.score_calibration``): its ranking, and so its AP, stay as
they were, while a briefly trained model's low scores (a median of ~0.2 after a CPU demo's training) are
mapped to match rates, so the F1 operating point 0.5 means the same for every model.

* :func:`calibration_samples` — features and match labels of a model's instances on annotated images;
* :func:`fit_calibration` — the coefficients (intercept first) from samples;
* :func:`calibrate_checkpoint` — the whole step after training: predict the validation images, fit, and
  write the coefficients into the checkpoint's ``model_kwargs.postprocess.calibration`` (so every later
  prediction with that checkpoint, from the CLI or a notebook, is calibrated) and ``calibration.json``
  beside it (coefficients, sample counts, match rate) for the record.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import atomic_write_json
from ..data.coco import CocoDataset, load_coco

log = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.json"


def match_labels(pred_rles: Sequence[dict], gt_rles: Sequence[dict], iou: float = 0.5,
                 scores: Sequence[float] | None = None) -> np.ndarray:
    """Bool per prediction (in the given order): matched one-to-one to an annotated cell at IoU >= ``iou`` by
    the evaluation's greedy matching in ``scores`` order (:mod:`cellseg_nb.eval.matching`), so a second
    prediction of an already matched cell (a duplicate NMS left) is a false positive, as it is for F1."""
    from ..eval.matching import greedy_match_overlaps, image_overlaps

    matched = np.zeros(len(pred_rles), dtype=bool)
    if len(pred_rles) and len(gt_rles):
        order_by = np.zeros(len(pred_rles)) if scores is None else np.asarray(scores, dtype=np.float64)
        ov = image_overlaps(list(gt_rles), np.zeros(len(gt_rles), dtype=bool), list(pred_rles), order_by,
                            max_dets=None)
        pred_match, _ = greedy_match_overlaps(ov, iou)
        matched[ov.order] = pred_match >= 0
    return matched


def _is_centermask(model) -> bool:
    return hasattr(getattr(model, "config", None), "score_calibration")


def _feature_count(model) -> int:
    from ..models.postprocess import INSTANCE_FEATURES

    return 1 if _is_centermask(model) else len(INSTANCE_FEATURES)


def instance_features(model, out: dict) -> np.ndarray:
    """``N x k`` calibration features of one image's output: a U-Net's instance features, or the logit of
    CenterMask's (uncalibrated) mask scores."""
    if "features" in out:
        return np.asarray(out["features"], dtype=np.float64).reshape(-1, _feature_count(model))
    if _is_centermask(model):
        scores = np.clip(np.asarray(out["scores"], dtype=np.float64).reshape(-1), 1e-6, 1 - 1e-6)
        return np.log(scores / (1 - scores))[:, None]
    raise ValueError(f"{type(model).__name__} gives no instance features; U-Nets and CenterMask are calibrated")


def calibration_samples(model, dataset: CocoDataset, image_root: str | Path, *, device: str = "auto",
                        max_images: int = 32, seed: int = 0, amp: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """Features (``N x k``, :func:`instance_features`) and match labels (``N`` bool) of ``model``'s
    instances on up to ``max_images`` annotated images of ``dataset`` (chosen with ``seed``, balanced over
    cell types); ``amp`` as the predictions it calibrates (:func:`cellseg_nb.train.runtime.resolve_amp`)."""
    import torch

    from ..data.images import read_image
    from ..data.layout import ImageLocator
    from ..data.splits import pick_images
    from ..data.geometry import annotation_rles
    from ..eval.predictions import masks_to_results
    from .runtime import resolve_amp, resolve_device
    from .validate import predict_image

    chosen = pick_images(dataset, max_images, seed=seed) if len(dataset.images) > max_images else dataset
    dev = resolve_device(device)
    amp = resolve_amp(amp, dev)
    model = model.to(dev).eval()
    locator = ImageLocator(image_root)
    features, labels = [], []
    with torch.no_grad():
        for record in chosen.images:
            path = locator.resolve(record["file_name"], annotations=dataset.path)
            pixels = read_image(path, convert=True, expected_size=(int(record["width"]), int(record["height"])))
            out = predict_image(model, torch.from_numpy(pixels.astype(np.float32))[None], dev,
                                dataset.cell_type(record["id"]), amp=amp)
            feats = instance_features(model, out)
            results = masks_to_results(record["id"], out["masks"], out["scores"])
            gt = annotation_rles(list(dataset.annotations_for(record["id"])), int(record["height"]),
                                   int(record["width"]))
            rles = [{"size": r["segmentation"]["size"], "counts": r["segmentation"]["counts"].encode("ascii")}
                    for r in results]
            features.append(feats)
            labels.append(match_labels(rles, gt, scores=[r["score"] for r in results]))
    return (np.concatenate(features) if features else np.zeros((0, _feature_count(model))),
            np.concatenate(labels) if labels else np.zeros(0, dtype=bool))


def fit_calibration(features: np.ndarray, matched: np.ndarray) -> tuple[float, ...] | None:
    """Logistic-regression coefficients ``(intercept, w1, ...)`` from instance features to match; None
    when the samples hold only one class (every instance matched, or none): nothing to separate."""
    from sklearn.linear_model import LogisticRegression

    features = np.asarray(features, dtype=np.float64)
    matched = np.asarray(matched, dtype=bool)
    if len(np.unique(matched)) < 2:
        return None
    fit = LogisticRegression(C=1.0, max_iter=1000).fit(features, matched)
    return (float(fit.intercept_[0]), *(float(w) for w in fit.coef_[0]))


def calibrate_checkpoint(checkpoint: str | Path, annotations: str | Path | CocoDataset, image_root: str | Path,
                         *, device: str = "auto", max_images: int = 32, seed: int = 0,
                         amp: str = "none") -> dict | None:
    """Fit the score calibration of a U-Net or CenterMask checkpoint on annotated (validation) images and
    save it with the model (see the module docstring). Returns what was written to ``calibration.json``, or
    None when the model has no calibration (an ensemble), the annotations are missing, the samples hold one
    class, or (CenterMask) the fit would invert the score order."""
    from ..models.postprocess import INSTANCE_FEATURES, PostprocessParams
    from .checkpoint import build_model_from_checkpoint, load_checkpoint, save_checkpoint

    if not isinstance(annotations, CocoDataset) and not Path(annotations).is_file():
        log.info("no validation annotations at %s: scores stay uncalibrated", annotations)
        return None
    payload = load_checkpoint(checkpoint)
    model = build_model_from_checkpoint(payload)
    kwargs = dict(payload["model_kwargs"])
    if _is_centermask(model):
        names = ["logit_mask_score"]
        kwargs["score_calibration"] = None  # fit on the raw scores, whatever an earlier calibration said
        model.config = dataclasses.replace(model.config, score_calibration=None)
    elif isinstance(getattr(model, "postprocess", None), PostprocessParams):
        names = list(INSTANCE_FEATURES)
        post = kwargs.get("postprocess") or {}
        post = dataclasses.asdict(post) if isinstance(post, PostprocessParams) else dict(post)
        post["calibration"] = None
        model.postprocess = PostprocessParams(**post)
    else:
        return None  # no scores of its own to calibrate (an ensemble routes to calibrated members)
    dataset = annotations if isinstance(annotations, CocoDataset) else load_coco(annotations)
    features, matched = calibration_samples(model, dataset, image_root, device=device, max_images=max_images,
                                            seed=seed, amp=amp)
    coefficients = fit_calibration(features, matched)
    if coefficients is not None and _is_centermask(model) and coefficients[1] <= 0:
        log.info("calibration skipped: the fit (%s) would invert the mask-score order", coefficients)
        coefficients = None
    record = {"features": names, "intercept_and_weights": coefficients,
              "instances": int(len(matched)), "matched": int(matched.sum()),
              "match_rate": float(matched.mean()) if len(matched) else None,
              "validation": str(getattr(dataset, "path", "") or annotations)}
    atomic_write_json(Path(checkpoint).with_name(CALIBRATION_FILE), record, indent=1)
    if coefficients is None:
        log.info("calibration skipped: %d instances, all of one class", len(matched))
        return None
    if _is_centermask(model):
        kwargs["score_calibration"] = list(coefficients)
    else:
        kwargs["postprocess"] = {**post, "calibration": list(coefficients)}
    payload["model_kwargs"] = kwargs
    save_checkpoint(checkpoint, payload)
    return record
