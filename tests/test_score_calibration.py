"""U-Net score calibration (issue #15): fitted on validation images, a threshold on the calibrated score
trades precision against recall.

The U-Net's semantic probabilities are simulated from the demo data's annotations, the way trained
U-Nets err: real cells confident with sharp edges; spurious instances are confident cores inside a
blurred smear of foreground (a fragment of background texture), so every instance's mean foreground
probability is high (>= 0.7, as with the real models, where 99.8 % scored >= 0.9) and the raw score cannot
separate them. Calibration must find that the edge contrast and size do.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from cellseg_nb.data.splits import load_split
from cellseg_nb.data.geometry import annotation_rles
from cellseg_nb.eval.predictions import masks_to_results
from cellseg_nb.models.postprocess import PostprocessParams, calibrated_scores, semantic_to_instances
from cellseg_nb.train.calibrate import fit_calibration, match_labels
from cellseg_nb.viz.layers import label_image


def simulated_probabilities(dataset, image_id, rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """3 x H x W (background, interior, boundary) probabilities for one image, and its GT RLEs."""
    record = dataset.image(image_id)
    h, w = int(record["height"]), int(record["width"])
    rles = annotation_rles(list(dataset.annotations_for(image_id)), h, w)
    labels = label_image(rles, h, w)
    rim = (labels > 0) & (ndimage.grey_erosion(labels, size=3) != labels)
    interior = np.where((labels > 0) & ~rim, 0.92, 0.02)
    boundary = np.where(rim, 0.85, 0.02)
    # spurious: a blurred smear of foreground around a small confident core, one per ~4 cells
    yy, xx = np.mgrid[0:h, 0:w]
    smear, core = np.zeros((h, w)), np.zeros((h, w), bool)
    for _ in range(max(1, len(rles) // 4)):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(5, 9)
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        smear = np.maximum(smear, (d2 <= r * r).astype(float))
        core |= d2 <= 4.0
    smear = ndimage.gaussian_filter(smear, 3.0) * (labels == 0)
    interior = np.where(core & (labels == 0), 0.9, interior)
    boundary = np.maximum(boundary, 0.95 * smear * (labels == 0))
    noise = rng.normal(0, 0.02, (2, h, w))
    fg = np.clip(np.stack([interior, boundary]) + noise, 0.001, 0.998)
    fg = fg / np.maximum(fg.sum(axis=0, keepdims=True), 1.0)
    return np.concatenate([1 - fg.sum(axis=0, keepdims=True), fg]).astype(np.float32), rles


def instances_of(split: str, root, seed: int):
    """Features, raw scores, match labels and (probabilities, instances) of every image of a split."""
    data = load_split(root, split)
    rng = np.random.default_rng(seed)
    features, scores, matched, kept = [], [], [], []
    for image_id in data.dataset.image_ids:
        probs, gt = simulated_probabilities(data.dataset, image_id, rng)
        out = semantic_to_instances(torch.from_numpy(probs))
        results = masks_to_results(image_id, out["masks"], out["scores"])
        rles = [{"size": r["segmentation"]["size"], "counts": r["segmentation"]["counts"].encode()} for r in results]
        features.append(out["features"].numpy())
        scores.append(out["scores"].numpy())
        matched.append(match_labels(rles, gt))
        kept.append((probs, out))
    return np.concatenate(features), np.concatenate(scores), np.concatenate(matched), kept


@pytest.fixture(scope="module")
def fitted(demo_root):
    val = instances_of("val", demo_root, 0)
    test = instances_of("test", demo_root, 1)
    return fit_calibration(val[0], val[2]), test


def test_raw_scores_do_not_spread_but_calibrated_ones_do(fitted):
    coefficients, (features, raw, matched, _) = fitted
    assert 0.2 < matched.mean() < 0.95, "the simulation must hold both matched and spurious instances"
    assert np.quantile(raw, 0.05) >= 0.7  # the problem: the raw score (mean foreground) is always high
    calibrated = calibrated_scores(features, coefficients)
    assert np.quantile(calibrated, 0.1) < 0.3 and np.quantile(calibrated, 0.9) > 0.7


def test_precision_rises_with_the_threshold_on_demo_data(fitted):
    coefficients, (features, _, matched, _) = fitted
    scores = calibrated_scores(features, coefficients)
    precision, recall = [], []
    for threshold in np.arange(0.0, 0.95, 0.1):
        kept = scores >= threshold
        if kept.sum() < 20:
            break
        precision.append(matched[kept].mean())
        recall.append(matched[kept].sum() / matched.sum())
    assert len(precision) >= 6
    assert all(b >= a - 0.01 for a, b in zip(precision, precision[1:])), precision
    assert precision[-1] - precision[0] > 0.1, precision
    assert all(b <= a for a, b in zip(recall, recall[1:])) and recall[-1] < recall[0]


def test_postprocess_applies_the_calibration_it_is_given(fitted):
    coefficients, (_, _, _, kept) = fitted
    probs, raw = kept[0]
    out = semantic_to_instances(torch.from_numpy(probs), PostprocessParams(calibration=coefficients))
    assert torch.equal(out["masks"], raw["masks"])  # same instances, new scores
    b, w = coefficients[0], np.asarray(coefficients[1:])
    by_hand = 1 / (1 + np.exp(-(b + raw["features"].numpy().astype(np.float64) @ w)))
    assert np.allclose(out["scores"].numpy(), by_hand, atol=1e-6)


def test_features_by_hand_and_one_class_refused():
    from cellseg_nb.models.postprocess import instance_features

    labels = np.zeros((12, 12), np.int32)
    labels[2:6, 2:6] = 1                                  # 16 pixels
    fg = np.full((12, 12), 0.1)
    fg[2:6, 2:6] = 0.9
    fg[0:8, 0:8][(labels[0:8, 0:8] == 0)] = 0.5           # the 2-px ring around it
    mean_fg, contrast, log_area = instance_features(labels, fg)[0]
    assert mean_fg == pytest.approx(0.9) and contrast == pytest.approx(0.4) and log_area == pytest.approx(np.log(16))
    assert fit_calibration(np.ones((5, 3)), np.ones(5, bool)) is None
    with pytest.raises(ValueError, match="calibration needs 4"):
        PostprocessParams(calibration=(1.0, 2.0))


@pytest.mark.slow
def test_calibration_after_training_is_saved_with_the_checkpoint(tmp_path):
    """A tiny U-Net learns discs; the validation annotations hold one disc per image, so its instances
    on the other discs do not match. calibrate_checkpoint fits on them and the checkpoint predicts with it."""
    import json

    from _train_helpers import DiscDataset, disc_gt

    from cellseg_nb.data.images import write_image
    from cellseg_nb.train import config_from_dict, train
    from cellseg_nb.train.calibrate import CALIBRATION_FILE, calibrate_checkpoint
    from cellseg_nb.train.checkpoint import build_model_from_checkpoint, load_checkpoint

    torch.manual_seed(0)
    data = DiscDataset(8, size=48, flip=False)
    result = train(config_from_dict({
        "model": {"name": "unet", "kwargs": {"width_mult": 0.0625, "widths": [64, 128, 256]}}, "steps": 500,
        "batch_size": 4, "checkpoint_every": 500, "log_every": 50, "device": "cpu", "amp": "none",
        "output_dir": str(tmp_path / "out"), "progress": False, "optim": {"lr": 0.01}}), train_dataset=data)
    gt = disc_gt(data)
    for record, (image, _) in zip(gt.images, data.items):
        write_image(tmp_path / "images" / record["file_name"], np.clip(image, 0, 255).astype(np.uint8))
    first: dict = {}
    annotations = [a for a in gt.annotations if first.setdefault(a["image_id"], a["id"]) == a["id"]]
    (tmp_path / "val.json").write_text(json.dumps({"images": gt.images, "annotations": annotations,
                                                   "categories": [{"id": 1, "name": "cell"}]}))
    before = load_checkpoint(result.last_checkpoint)
    record = calibrate_checkpoint(result.last_checkpoint, tmp_path / "val.json", tmp_path / "images", device="cpu")
    assert record is not None and 0 < record["matched"] < record["instances"]
    assert record["matched"] <= len(gt.images)  # at most the one annotated disc per image matches
    saved = json.loads((result.last_checkpoint.parent / CALIBRATION_FILE).read_text())
    assert saved["intercept_and_weights"] == list(record["intercept_and_weights"])
    after = load_checkpoint(result.last_checkpoint)
    assert after["model_kwargs"]["postprocess"]["calibration"] == saved["intercept_and_weights"]
    assert all(torch.equal(before["model"][k], after["model"][k]) for k in before["model"])  # weights kept
    model = build_model_from_checkpoint(after).eval()
    assert model.postprocess.calibration == tuple(saved["intercept_and_weights"])
    with torch.no_grad():
        out = model(torch.from_numpy(data.items[0][0])[None, None])[0]
    assert len(out["scores"]) and np.allclose(out["scores"].numpy(),
                                              calibrated_scores(out["features"].numpy(), model.postprocess.calibration))
