"""CenterMask call contract (train losses, eval instances, lists of differently sized images, tiled
inference), configuration errors, and loss decrease on a fixed batch."""

from __future__ import annotations

import pytest
import torch

from cellseg_nb.errors import ConfigError, DataError
from cellseg_nb.models.centermask import CENTERMASK_PRESETS, SMALL_CPU_OVERRIDES, build_centermask
from cellseg_nb.models.centermask.config import MIN_EVAL_DETECTIONS, make_config
from cellseg_nb.models.instances import BoxMasks

from test_centermask_overfit import TINY, synthetic_image

LOSS_KEYS = {"loss_fcos_cls", "loss_fcos_loc", "loss_fcos_ctr", "loss_mask", "loss_maskiou"}


def _lite(**overrides):
    return build_centermask("centermask_lite_v19_slim_dw", **{**TINY, **overrides})


def test_presets_and_livecell_defaults() -> None:
    assert set(CENTERMASK_PRESETS) >= {"centermask_lite_v19_slim_dw", "centermask_v39", "centermask_v57",
                                       "centermask_v99"}
    lite = make_config("centermask_lite_v19_slim_dw")
    assert (lite.fpn_channels, lite.fcos_num_convs, lite.mask_num_convs, lite.mask_conv_dim) == (128, 2, 2, 128)
    v99 = make_config("centermask_v99")
    assert (v99.fpn_channels, v99.fcos_num_convs, v99.mask_num_convs, v99.maskiou_conv_dim) == (256, 4, 4, 256)
    assert (v99.num_classes, v99.pre_nms_topk_train, v99.pre_nms_topk_test, v99.post_nms_topk_train,
            v99.post_nms_topk_test, v99.detections_per_image, v99.roi_batch_size_per_image) == \
        (1, 2000, 4000, 15000, 3000, 2000, 3000)
    assert (v99.pixel_mean, v99.pixel_std, v99.test_min_size, v99.test_max_size) == (128.0, 11.578, 800, 1333)
    assert v99.train_min_sizes == (440, 480, 520, 560, 580, 620)
    small = make_config("centermask_v99", **SMALL_CPU_OVERRIDES)
    assert (small.test_min_size, small.test_max_size) == (520, 704)
    # evaluation keeps at least LIVECell's maxDets after NMS, in every preset and the small-CPU overrides
    for config in [small, lite, v99] + [make_config(p) for p in CENTERMASK_PRESETS]:
        assert min(config.post_nms_topk_test, config.detections_per_image) >= MIN_EVAL_DETECTIONS == 2000


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="preset"):
        make_config("centermask_v1000")
    with pytest.raises(ConfigError, match="not_a_key"):
        make_config("centermask_v99", not_a_key=1)
    with pytest.raises(ConfigError, match="fpn_channels"):
        make_config("centermask_v99", fpn_channels=100)


def test_train_and_eval_contract() -> None:
    torch.manual_seed(0)
    model = _lite(inference_threshold=0.0, detections_per_image=7)
    image, target = synthetic_image(1)
    images = torch.stack([image, synthetic_image(2)[0]])
    model.train()
    losses = model(images, [target, synthetic_image(2)[1]])
    assert set(losses) == LOSS_KEYS
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.mask_head.predictor.weight.grad is not None
    assert model.maskiou_head.maskiou.weight.grad is not None
    model.eval()
    out = model([image, torch.rand(1, 96, 112) * 255])  # a list of differently sized images
    assert len(out) == 2
    for result, (h, w) in zip(out, [(128, 128), (96, 112)]):
        n = len(result["scores"])
        assert 0 < n <= 7
        assert isinstance(result["masks"], BoxMasks) and result["masks"].shape == (n, h, w)
        dense = result["masks"].dense()
        assert dense.dtype == torch.bool and dense.shape == (n, h, w)
        assert result["boxes"].shape == (n, 4) and result["boxes"].dtype == torch.float32
        assert (result["boxes"][:, 0::2] <= w).all() and (result["boxes"] >= 0).all()
        assert torch.all(result["scores"][:-1] >= result["scores"][1:])  # ranked by mask score
        assert torch.isfinite(result["scores"]).all() and result["labels"].eq(1).all()
        # mask score = box score * predicted IoU: an untrained MaskIoU head predicts ~0, so scores shrink
        assert torch.all(result["scores"].abs() < result["box_scores"])
        assert torch.all((result["scores"] >= 0) & (result["scores"] <= 1))


@pytest.mark.parametrize("bias", [-5.0, 5.0])
def test_mask_scores_stay_in_unit_range(bias: float) -> None:
    """The MaskIoU head's raw output can leave [0, 1] (negative early in training, above 1 later); the
    predicted IoU is clamped so mask scores are valid COCO scores (the evaluator rejects others)."""
    torch.manual_seed(0)
    model = _lite(inference_threshold=0.0, detections_per_image=20)
    torch.nn.init.constant_(model.maskiou_head.maskiou.bias, bias)  # raw predicted IoU far outside [0, 1]
    model.eval()
    out = model(synthetic_image(1)[0][None])[0]
    assert len(out["scores"]) > 0
    assert torch.all((out["scores"] >= 0) & (out["scores"] <= 1))
    expected = out["box_scores"] if bias > 0 else torch.zeros_like(out["box_scores"])
    assert torch.allclose(out["scores"], expected)


def test_image_without_cells_trains() -> None:
    model = _lite()
    model.train()
    image, _ = synthetic_image(1)
    empty = {"boxes": torch.zeros((0, 4)), "masks": torch.zeros((0, 128, 128), dtype=torch.uint8),
             "labels": torch.zeros((0,), dtype=torch.int64)}
    losses = model(image[None], [empty])
    assert set(losses) == LOSS_KEYS and losses["loss_mask"].item() == 0.0
    sum(losses.values()).backward()


def test_bad_inputs_raise_data_error() -> None:
    model = _lite()
    model.train()
    image, target = synthetic_image(1)
    with pytest.raises(DataError, match="targets"):
        model(image[None])
    with pytest.raises(DataError, match="masks"):
        model(image[None], [{**target, "masks": target["masks"][:, :10]}])
    model.eval()
    with pytest.raises(DataError, match="B x 1 x H x W"):
        model(torch.zeros(1, 3, 64, 64))


def test_tiled_inference_covers_a_large_image() -> None:
    torch.manual_seed(0)
    model = _lite(inference_threshold=0.0, test_min_size=64, test_max_size=96, tile_overlap=16,
                  detections_per_image=50)
    model.eval()
    image = torch.rand(1, 150, 200) * 255
    out = model(image[None])[0]
    assert out["masks"].shape[1:] == (150, 200)
    dense = out["masks"].dense()
    for k, (x1, y1, x2, y2) in enumerate(out["boxes"].tolist()):  # every mask inside its (clipped) box
        ys, xs = dense[k].nonzero(as_tuple=True)
        assert len(ys) == 0 or (xs.min() >= int(x1) and xs.max() < x2 + 1 and ys.min() >= int(y1) and ys.max() < y2 + 1)
    centres = (out["boxes"][:, :2] + out["boxes"][:, 2:]) / 2
    # detections come from tiles all over the image, not just the first tile
    assert centres[:, 0].max() > 110 and centres[:, 1].max() > 80
    assert torch.all(out["scores"][:-1] >= out["scores"][1:])
    assert len(out["scores"]) <= 50


@pytest.mark.slow
def test_loss_decreases_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    model = _lite()
    image, target = synthetic_image(4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    totals = []
    for _ in range(25):
        losses = model(image[None], [target])
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        totals.append({k: v.item() for k, v in losses.items()})
    first, last = totals[0], totals[-1]
    assert last["loss_fcos_cls"] < 0.5 * first["loss_fcos_cls"]
    assert last["loss_fcos_loc"] < first["loss_fcos_loc"]
    assert sum(last.values()) < 0.6 * sum(first.values())


def test_no_shipped_config_evaluates_below_2000_detections() -> None:
    """Every post-NMS top-k / detection cap set in configs/*.yaml keeps LIVECell's 2000 detections."""
    from pathlib import Path

    import yaml

    def found(node, path=""):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("post_nms_topk_test", "detections_per_image"):
                    yield f"{path}.{key}", value
                yield from found(value, f"{path}.{key}")
        elif isinstance(node, list):
            for k, value in enumerate(node):
                yield from found(value, f"{path}[{k}]")

    configs = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
    assert configs
    for config in configs:
        for where, value in found(yaml.safe_load(config.read_text())):
            assert int(value) >= MIN_EVAL_DETECTIONS, f"{config.name}{where} = {value}"


def test_fcos_keeps_its_top_k_and_the_cap_ranks_by_mask_score() -> None:
    """detections_per_image cuts the post-NMS top-k *after* ranking by mask score (box score x predicted
    IoU), not before. A MaskIoU head that predicts IoU (k + 1) / R for the k-th of R boxes (FCOS order,
    by box score) turns the ranking round: the capped output must be the uncapped output's 10 best by
    mask score, which are not its 10 best by box score."""
    from dataclasses import replace

    class RisingIoU(torch.nn.Module):
        def forward(self, pooled, mask):
            r = pooled.shape[0]
            return (torch.arange(1, r + 1, dtype=torch.float32) / r)[:, None]

    torch.manual_seed(0)
    model = _lite(inference_threshold=0.0, post_nms_topk_test=60, detections_per_image=60)
    model.maskiou_head = RisingIoU()
    model.eval()
    image = synthetic_image(1)[0][None]
    full = model(image)[0]
    n = len(full["box_scores"])
    assert n > 20
    # in FCOS order (by box score) the predicted IoU (mask score / box score) rises, as the head says
    fcos_order = torch.sort(full["box_scores"], descending=True, stable=True).indices
    iou = (full["scores"] / full["box_scores"])[fcos_order]
    assert torch.all(iou[1:] > iou[:-1])
    model.config = replace(model.config, detections_per_image=10)
    capped = model(image)[0]
    expected = torch.sort(full["scores"], descending=True, stable=True).indices[:10]
    assert torch.equal(capped["boxes"], full["boxes"][expected])
    assert set(expected.tolist()) != set(fcos_order[:10].tolist())  # cutting by box score first would differ
