"""CenterMask score calibration (Platt scaling of the mask score): the formula by hand, the order kept, the
fit saved with the checkpoint and used by the rebuilt model, an inverting fit refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from cellseg_nb.errors import ConfigError
from cellseg_nb.models.centermask import build_centermask
from cellseg_nb.train import calibrate
from cellseg_nb.train.checkpoint import build_model_from_checkpoint, load_checkpoint, save_checkpoint

from test_centermask_overfit import TINY


def _checkpoint(path, **kwargs):
    torch.manual_seed(0)
    model = build_centermask("centermask_lite_v19_slim_dw", **{**TINY, **kwargs})
    save_checkpoint(path, {"model_name": "centermask_lite_v19_slim_dw", "model_kwargs": {**TINY, **kwargs},
                           "model": model.state_dict(), "step": 1})
    return path


def test_platt_scaling_by_hand_keeps_the_order():
    model = build_centermask("centermask_lite_v19_slim_dw", **TINY, score_calibration=(0.5, 2.0))
    scores = torch.tensor([0.9, 0.3, 0.05])
    # sigmoid(0.5 + 2 * logit(s)) by hand
    by_hand = [1 / (1 + math.exp(-(0.5 + 2 * math.log(s / (1 - s))))) for s in (0.9, 0.3, 0.05)]
    out = model._calibrated(scores)
    assert out.tolist() == pytest.approx(by_hand, rel=1e-5)
    assert torch.all(out[:-1] > out[1:])  # same ranking, so the same AP
    plain = build_centermask("centermask_lite_v19_slim_dw", **TINY)
    assert torch.equal(plain._calibrated(scores), scores)


@pytest.mark.parametrize("bad", [(1.0, 0.0), (1.0, -2.0), (float("nan"), 1.0), (1.0, 2.0, 3.0)])
def test_a_calibration_that_inverts_or_is_not_finite_is_refused(bad):
    with pytest.raises(ConfigError, match="^score_calibration"):
        build_centermask("centermask_lite_v19_slim_dw", **TINY, score_calibration=bad)


def test_features_are_the_logit_of_the_mask_score():
    model = build_centermask("centermask_lite_v19_slim_dw", **TINY)
    feats = calibrate.instance_features(model, {"scores": torch.tensor([0.5, 0.8])})
    assert feats.shape == (2, 1) and feats[:, 0].tolist() == pytest.approx([0.0, math.log(4.0)])


def _samples_from(a: float, b: float, n: int = 4000, seed: int = 0):
    """Logit scores and match labels drawn from a known Platt relation P(match) = sigmoid(a + b * logit)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(-1.0, 1.5, n)
    matched = rng.random(n) < 1 / (1 + np.exp(-(a + b * logits)))
    return logits[:, None], matched


def test_calibration_is_fitted_saved_and_used(tmp_path, monkeypatch):
    path = _checkpoint(tmp_path / "ck.pt")
    (tmp_path / "val.json").write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    seen = {}

    def samples(model, dataset, image_root, **kw):
        seen["calibration_at_sampling"] = model.config.score_calibration
        return _samples_from(-1.0, 2.0)

    monkeypatch.setattr(calibrate, "calibration_samples", samples)
    record = calibrate.calibrate_checkpoint(path, tmp_path / "val.json", tmp_path, device="cpu")
    a, b = record["intercept_and_weights"]
    assert a == pytest.approx(-1.0, abs=0.15) and b == pytest.approx(2.0, abs=0.2)  # the relation drawn from
    assert record["features"] == ["logit_mask_score"] and seen["calibration_at_sampling"] is None
    payload = load_checkpoint(path)
    assert payload["model_kwargs"]["score_calibration"] == [a, b]
    assert build_model_from_checkpoint(payload).config.score_calibration == (a, b)
    # refitting starts from the raw scores again, whatever the checkpoint holds now
    calibrate.calibrate_checkpoint(path, tmp_path / "val.json", tmp_path, device="cpu")
    assert seen["calibration_at_sampling"] is None


def test_an_inverting_fit_is_not_saved(tmp_path, monkeypatch):
    path = _checkpoint(tmp_path / "ck.pt")
    (tmp_path / "val.json").write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    monkeypatch.setattr(calibrate, "calibration_samples", lambda *a, **k: _samples_from(0.0, -1.5))
    assert calibrate.calibrate_checkpoint(path, tmp_path / "val.json", tmp_path, device="cpu") is None
    assert load_checkpoint(path)["model_kwargs"].get("score_calibration") is None
    saved = json.loads((tmp_path / calibrate.CALIBRATION_FILE).read_text())
    assert saved["intercept_and_weights"] is None


def test_a_duplicate_of_a_matched_cell_is_not_a_match():
    """Match labels are one-to-one in score order, as the evaluation's F1 counts them: of two predictions of
    one cell only the higher-scored matches; a lone prediction of another cell matches too."""
    from pycocotools import mask as mask_utils

    def rle(y0, x0, size=10):
        m = np.zeros((40, 40), np.uint8, order="F")
        m[y0:y0 + size, x0:x0 + size] = 1
        return mask_utils.encode(m)

    gt = [rle(2, 2), rle(20, 20)]
    preds = [rle(2, 3), rle(2, 2), rle(21, 20), rle(30, 0, 5)]   # two of cell 1, one of cell 2, one spurious
    labels = calibrate.match_labels(preds, gt, scores=[0.4, 0.9, 0.5, 0.8])
    assert labels.tolist() == [False, True, True, False]
    labels = calibrate.match_labels(preds, gt, scores=[0.95, 0.9, 0.5, 0.8])  # the other duplicate first
    assert labels.tolist() == [True, False, True, False]
