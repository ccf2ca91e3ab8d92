"""Mixed-precision prediction (`amp`, `channels_last` of the prediction loop): the forward pass really runs
under bf16 autocast, the heads hand fp32 to box decoding, NMS and pasting, and the instances agree with the
exact fp32 prediction; training losses stay fp32 under autocast."""

from __future__ import annotations

import numpy as np
import torch

from cellseg_nb.models.centermask import build_centermask
from cellseg_nb.train.inference import ImageSource, model_predictor
from cellseg_nb.train.runtime import autocast

from test_centermask_overfit import TINY, synthetic_image


def _model():
    torch.manual_seed(0)
    model = build_centermask("centermask_lite_v19_slim_dw", **{**TINY, "inference_threshold": 0.0,
                                                                 "detections_per_image": 30})
    torch.nn.init.constant_(model.fcos_head.bbox_pred.bias, 1.0)  # cell-sized boxes (~2 strides), not ~0 px
    return model.eval()


def _source() -> ImageSource:
    return ImageSource(key=1, file_name="x.tif", path=None, cell_type="A172")


def test_bf16_prediction_runs_under_autocast_and_returns_fp32() -> None:
    model = _model()
    seen = []
    model.fpn.register_forward_hook(lambda m, i, o: seen.append(o[0].dtype) and None)
    image = synthetic_image(1)[0][0].numpy()
    exact = model_predictor(model, torch.device("cpu"))(image, _source())
    fast = model_predictor(model, torch.device("cpu"), amp="bf16", channels_last=True)(image, _source())
    assert seen == [torch.float32, torch.bfloat16]  # the second pass computed its convolutions in bf16
    assert fast.scores.dtype == torch.float32 and fast.boxes.dtype == torch.float32
    assert len(exact.scores) == len(fast.scores) == 30
    # the same instances, boxes within a pixel: bf16 convolutions, fp32 decoding
    e, f = np.asarray(exact.boxes), np.asarray(fast.boxes)
    nearest = np.abs(e[:, None, :] - f[None, :, :]).max(axis=2).min(axis=1)
    assert np.median(nearest) < 1.0


def test_head_outputs_and_losses_are_fp32_under_autocast() -> None:
    model = _model().train()
    image, target = synthetic_image(1)
    seen = {}

    def record(name, flat):
        def hook(module, inputs, output) -> None:  # returns None: the output is left as it is
            seen[name] = {t.dtype for t in flat(output)}
        return hook

    model.fpn.register_forward_hook(record("fpn", list))
    model.fcos_head.register_forward_hook(record("fcos", lambda o: [t for part in o for t in part]))
    with autocast("bf16", torch.device("cpu")):
        losses = model(image[None], [target])
    assert seen == {"fpn": {torch.bfloat16}, "fcos": {torch.float32}}
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
